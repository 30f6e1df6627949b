//! Query-string and field parsing shared by the admin resources: paging, UUIDs, RFC 3339 times,
//! "absent vs null" in patches, and the license list filters (used by the list and by exports).
//! Every rejection is a 400 naming the field.

use license_core::LicenseStatus;
use license_store::Page;
use license_store::search::{LicenseFilter, LicenseSort};
use serde::{Deserialize, Deserializer};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::ApiError;

/// Absent stays `None`; `null` becomes `Some(None)` (clears a nullable field).
pub(crate) fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A 400 `INVALID_REQUEST` that names `field`.
pub(crate) fn bad(field: &str, message: &str) -> ApiError {
    ApiError::InvalidRequest(format!("{field}: {message}"))
}

/// An RFC 3339 time within the years the store can hold.
pub(crate) fn parse_time(field: &str, v: &str) -> Result<OffsetDateTime, ApiError> {
    let t = OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
        .map_err(|_| bad(field, "must be an RFC 3339 time, e.g. 2027-01-31T00:00:00Z"))?;
    if !license_store::validate::representable(t) {
        return Err(bad(field, "must be between the years 1970 and 9000"));
    }
    Ok(t)
}

/// An optional RFC 3339 time.
pub(crate) fn parse_opt_time(
    field: &str,
    v: Option<&str>,
) -> Result<Option<OffsetDateTime>, ApiError> {
    v.map(|v| parse_time(field, v)).transpose()
}

/// A UUID.
pub(crate) fn parse_uuid(field: &str, v: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(v).map_err(|_| bad(field, "must be a UUID"))
}

/// Paging query parameters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    limit: Option<i64>,
    offset: Option<i64>,
}

impl PageQuery {
    /// The page asked for (default: the first 50).
    pub fn page(&self) -> Result<Page, ApiError> {
        page(self.limit, self.offset)
    }
}

/// A page from optional `limit` (1..=500, default 50) and `offset` (default 0).
pub(crate) fn page(limit: Option<i64>, offset: Option<i64>) -> Result<Page, ApiError> {
    Ok(Page::new(limit.unwrap_or(50), offset.unwrap_or(0))?)
}

/// Query of `GET /licenses` (strings, parsed with field-naming errors).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicenseQuery {
    q: Option<String>,
    product: Option<String>,
    status: Option<String>,
    customer: Option<String>,
    expires_before: Option<String>,
    expires_after: Option<String>,
    sort: Option<String>,
    order: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

impl LicenseQuery {
    /// The store filter and page this query asks for.
    /// The search text, if any.
    pub fn q(&self) -> Option<&str> {
        self.q.as_deref()
    }

    pub fn filter(&self) -> Result<(LicenseFilter, Page), ApiError> {
        let filter = LicenseFilter {
            q: self.q.clone().filter(|q| !q.trim().is_empty()),
            product: self.product.as_deref().map(|v| parse_uuid("product", v)).transpose()?,
            status: self
                .status
                .as_deref()
                .map(|v| LicenseStatus::parse(v).ok_or_else(|| bad("status", "must be one of available, assigned, active, inactive, suspended, expired, revoked, reminted")))
                .transpose()?,
            customer: self.customer.as_deref().map(|v| parse_uuid("customer", v)).transpose()?,
            expires_before: parse_opt_time("expires_before", self.expires_before.as_deref())?,
            expires_after: parse_opt_time("expires_after", self.expires_after.as_deref())?,
            sort: match self.sort.as_deref() {
                None => LicenseSort::default(),
                Some(v) => LicenseSort::parse(v).ok_or_else(|| bad("sort", "must be key, product, customer, status, activations, expires or created"))?,
            },
            desc: match self.order.as_deref() {
                None | Some("asc") => false,
                Some("desc") => true,
                Some(_) => return Err(bad("order", "must be asc or desc")),
            },
        };
        Ok((filter, page(self.limit, self.offset)?))
    }
}

/// The path of a route on the environment as a whole: `/v1/{env}/...`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct EnvPath {
    /// Environment name
    pub env: String,
}

/// The path of a route on one resource: `/v1/{env}/<resources>/{id}/...`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct IdPath {
    /// Environment name
    pub env: String,
    /// Id
    pub id: Uuid,
}

/// The schema of an optional activation limit (SPEC §3): `-1` (unlimited) or `1..=10000` — the same rule
/// `license_core::ActivationLimit` enforces.
pub(crate) fn activation_limit_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
    let int = || ObjectBuilder::new().schema_type(Type::Integer);
    OneOfBuilder::new()
        .item(int().enum_values(Some([-1])))
        .item(int().minimum(Some(1)).maximum(Some(10_000)))
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .description(Some(
            "-1 (unlimited) or 1..=10000; absent or null: the default",
        ))
        .into()
}
