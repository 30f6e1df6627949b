//! Typed domain records as the store returns them, and their conversion from rows. Field names
//! and JSON shapes follow SPEC §3 and §8, so the HTTP layer serialises these directly.

use license_core::{ActivationLimit, KeyFormat, LicenseStatus};
use serde::{Deserialize, Serialize};
use time::{OffsetDateTime, PrimitiveDateTime};
use uuid::Uuid;

use crate::error::StoreError;
use crate::rows::*;

/// A JSON object (feature flags, metadata, details).
pub type JsonObject = serde_json::Map<String, serde_json::Value>;

/// Converts a time to the stored form: UTC, microsecond precision (what both backends keep).
pub fn to_db(t: OffsetDateTime) -> PrimitiveDateTime {
    let utc = t.to_offset(time::UtcOffset::UTC);
    let micros = utc.microsecond();
    let utc = utc.replace_microsecond(micros).unwrap_or(utc);
    PrimitiveDateTime::new(utc.date(), utc.time())
}

/// Reads a stored time (always UTC).
pub fn from_db(t: PrimitiveDateTime) -> OffsetDateTime {
    t.assume_utc()
}

/// `t` as the store will keep it: UTC, truncated to microseconds. Tests compare against this.
pub fn stored(t: OffsetDateTime) -> OffsetDateTime {
    from_db(to_db(t))
}

/// The stored expiry of a lifetime license: later than any real one, so it sorts last.
pub const LIFETIME: PrimitiveDateTime = time::macros::datetime!(9999-12-31 00:00);

/// A license expiry as stored (`None`, lifetime, as [`LIFETIME`]).
pub fn expiry_to_db(e: Option<OffsetDateTime>) -> PrimitiveDateTime {
    e.map_or(LIFETIME, to_db)
}

/// A stored license expiry ([`LIFETIME`] reads as `None`).
pub fn expiry_from_db(p: PrimitiveDateTime) -> Option<OffsetDateTime> {
    (p != LIFETIME).then(|| from_db(p))
}

pub(crate) fn new_id() -> String {
    Uuid::now_v7().to_string()
}

pub(crate) fn parse_id(s: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(s).map_err(|e| StoreError::corrupt(format!("id {s:?}: {e}")))
}

pub(crate) fn parse_json(s: &str) -> Result<JsonObject, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::corrupt(format!("JSON column: {e}")))
}

pub(crate) fn json_text(v: &JsonObject) -> String {
    serde_json::Value::Object(v.clone()).to_string()
}

/// Whether a product may get new licenses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ProductStatus {
    /// Licenses can be created.
    Active,
    /// Kept for existing licenses; no new ones.
    Archived,
}

impl ProductStatus {
    /// Wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Archived => "archived",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "active" => Ok(Self::Active),
            "archived" => Ok(Self::Archived),
            other => Err(StoreError::corrupt(format!("product status {other:?}"))),
        }
    }
}

/// A product (SPEC §3).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Product {
    pub id: Uuid,
    pub name: String,
    pub code: String,
    pub status: ProductStatus,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub metadata: JsonObject,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl TryFrom<ProductRow> for Product {
    type Error = StoreError;
    fn try_from(r: ProductRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: parse_id(&r.id)?,
            status: ProductStatus::parse(&r.status)?,
            metadata: parse_json(&r.metadata)?,
            name: r.name,
            code: r.code,
            created_at: from_db(r.created_at),
            updated_at: from_db(r.updated_at),
        })
    }
}

/// When a generator's validity clock starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ExpiryBasis {
    /// At minting.
    Creation,
    /// When the license is assigned to a customer.
    Assignment,
    /// At the first activation.
    FirstActivation,
}

impl ExpiryBasis {
    /// Wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Creation => "creation",
            Self::Assignment => "assignment",
            Self::FirstActivation => "first_activation",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Creation, Self::Assignment, Self::FirstActivation]
            .into_iter()
            .find(|b| b.as_str() == s)
    }
}

/// A key generator: the template for minting keys of one product (SPEC §3).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Generator {
    pub id: Uuid,
    pub product_id: Uuid,
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub format: KeyFormat,
    /// The format carries fewer random bits than a new format must (SPEC §5): made under the
    /// older 64-bit floor. Such a generator keeps minting; operators are told to replace it.
    pub weak: bool,
    pub default_activation_limit: i32,
    pub default_validity_days: Option<i32>,
    pub expiry_basis: ExpiryBasis,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub default_feature_flags: JsonObject,
    pub lease_ttl_seconds: i32,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl TryFrom<GeneratorRow> for Generator {
    type Error = StoreError;
    fn try_from(r: GeneratorRow) -> Result<Self, StoreError> {
        let format: KeyFormat = serde_json::from_str(&r.format)
            .map_err(|e| StoreError::corrupt(format!("generator format: {e}")))?;
        Ok(Self {
            id: parse_id(&r.id)?,
            product_id: parse_id(&r.product_id)?,
            weak: format.is_weak(),
            format,
            expiry_basis: ExpiryBasis::parse(&r.expiry_basis)
                .ok_or_else(|| StoreError::corrupt(format!("expiry_basis {:?}", r.expiry_basis)))?,
            default_feature_flags: parse_json(&r.default_feature_flags)?,
            name: r.name,
            default_activation_limit: r.default_activation_limit,
            default_validity_days: r.default_validity_days,
            lease_ttl_seconds: r.lease_ttl_seconds,
            created_at: from_db(r.created_at),
            updated_at: from_db(r.updated_at),
        })
    }
}

/// A customer (SPEC §3).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Customer {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub metadata: JsonObject,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl TryFrom<CustomerRow> for Customer {
    type Error = StoreError;
    fn try_from(r: CustomerRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: parse_id(&r.id)?,
            metadata: parse_json(&r.metadata)?,
            name: r.name,
            email: r.email,
            created_at: from_db(r.created_at),
            updated_at: from_db(r.updated_at),
        })
    }
}

/// A license without its key columns (SPEC §3), plus the masked key and live counters.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct License {
    pub id: Uuid,
    pub product_id: Uuid,
    pub generator_id: Uuid,
    pub customer_id: Option<Uuid>,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub status: LicenseStatus,
    pub activation_limit: i32,
    pub activations_active: i32,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub feature_flags: JsonObject,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub metadata: JsonObject,
    pub suspended_reason: Option<String>,
    pub reminted_from: Option<Uuid>,
    pub reminted_to: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub first_activated_at: Option<OffsetDateTime>,
    pub key_display: String,
    #[serde(skip)]
    pub key_prefix: String,
    #[serde(skip)]
    pub ever_activated: bool,
    #[serde(skip)]
    pub key_ciphertext: Vec<u8>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

fn parse_opt_id(s: Option<&str>) -> Result<Option<Uuid>, StoreError> {
    s.map(parse_id).transpose()
}

impl TryFrom<LicenseRow> for License {
    type Error = StoreError;
    fn try_from(r: LicenseRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: parse_id(&r.id)?,
            product_id: parse_id(&r.product_id)?,
            generator_id: parse_id(&r.generator_id)?,
            customer_id: parse_opt_id(r.customer_id.as_deref())?,
            status: LicenseStatus::parse(&r.status)
                .ok_or_else(|| StoreError::corrupt(format!("license status {:?}", r.status)))?,
            activation_limit: r.activation_limit,
            activations_active: r.activations_active,
            expires_at: expiry_from_db(r.expires_at),
            feature_flags: parse_json(&r.feature_flags)?,
            metadata: parse_json(&r.metadata)?,
            suspended_reason: r.suspended_reason,
            reminted_from: parse_opt_id(r.reminted_from.as_deref())?,
            reminted_to: parse_opt_id(r.reminted_to.as_deref())?,
            first_activated_at: r.first_activated_at.map(from_db),
            key_display: r.key_display,
            key_prefix: r.key_prefix,
            ever_activated: r.ever_activated,
            key_ciphertext: r.key_ciphertext,
            created_at: from_db(r.created_at),
            updated_at: from_db(r.updated_at),
        })
    }
}

impl License {
    /// The activation limit as the core type.
    pub fn limit(&self) -> ActivationLimit {
        ActivationLimit::new(i64::from(self.activation_limit)).unwrap_or(ActivationLimit::UNLIMITED)
    }
}

/// The product as embedded in a license view.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProductSummary {
    pub id: Uuid,
    pub name: String,
    pub code: String,
    pub status: ProductStatus,
}

/// The customer as embedded in a license view.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CustomerSummary {
    pub id: Uuid,
    pub name: String,
    pub email: String,
}

/// A license with its product and customer: the admin view of SPEC §8.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LicenseView {
    #[serde(flatten)]
    pub license: License,
    pub product: ProductSummary,
    pub customer: Option<CustomerSummary>,
}

impl LicenseView {
    pub(crate) fn from_rows(
        l: LicenseRow,
        p: ProductRow,
        c: Option<CustomerRow>,
    ) -> Result<Self, StoreError> {
        let product = Product::try_from(p)?;
        let customer = c.map(Customer::try_from).transpose()?;
        Ok(Self {
            license: License::try_from(l)?,
            product: ProductSummary {
                id: product.id,
                name: product.name,
                code: product.code,
                status: product.status,
            },
            customer: customer.map(|c| CustomerSummary {
                id: c.id,
                name: c.name,
                email: c.email,
            }),
        })
    }
}

/// Whether an activation holds a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ActivationStatus {
    /// Holds a slot.
    Active,
    /// Freed its slot.
    Deactivated,
}

impl ActivationStatus {
    /// Wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Deactivated => "deactivated",
        }
    }
}

/// A device or instance using a license (SPEC §3).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Activation {
    pub id: Uuid,
    pub license_id: Uuid,
    pub fingerprint: String,
    pub name: Option<String>,
    pub platform: Option<String>,
    pub ip: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub metadata: JsonObject,
    pub status: ActivationStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub first_seen_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_validated_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub deactivated_at: Option<OffsetDateTime>,
}

impl TryFrom<ActivationRow> for Activation {
    type Error = StoreError;
    fn try_from(r: ActivationRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: parse_id(&r.id)?,
            license_id: parse_id(&r.license_id)?,
            status: match r.status.as_str() {
                "active" => ActivationStatus::Active,
                "deactivated" => ActivationStatus::Deactivated,
                other => return Err(StoreError::corrupt(format!("activation status {other:?}"))),
            },
            metadata: parse_json(&r.metadata)?,
            fingerprint: r.fingerprint,
            name: r.name,
            platform: r.platform,
            ip: r.ip,
            first_seen_at: from_db(r.first_seen_at),
            last_validated_at: from_db(r.last_validated_at),
            deactivated_at: r.deactivated_at.map(from_db),
        })
    }
}

/// One audit log entry (SPEC §3).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub actor: String,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub key_hint: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub details: JsonObject,
    pub request_id: String,
    pub ip: Option<String>,
}

impl TryFrom<AuditRow> for AuditEntry {
    type Error = StoreError;
    fn try_from(r: AuditRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: parse_id(&r.id)?,
            at: from_db(r.at),
            details: parse_json(&r.details)?,
            actor: r.actor,
            action: r.action,
            target_type: r.target_type,
            target_id: r.target_id,
            key_hint: r.key_hint,
            request_id: r.request_id,
            ip: r.ip,
        })
    }
}

/// One outbox event (SPEC §3), the source of webhooks.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub event_type: String,
    pub license_id: Option<Uuid>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub data: JsonObject,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl TryFrom<EventRow> for Event {
    type Error = StoreError;
    fn try_from(r: EventRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: parse_id(&r.id)?,
            license_id: parse_opt_id(r.license_id.as_deref())?,
            data: parse_json(&r.data)?,
            event_type: r.event_type,
            created_at: from_db(r.created_at),
        })
    }
}
