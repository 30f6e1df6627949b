//! The admin REST API (SPEC §8) under `/v1/{env}`: bearer-token auth, one permission per route,
//! and thin handlers that turn requests into store calls: catalog, licenses and their actions,
//! activations, tokens, settings, audit, events, jobs, bulk
//! generation, export/import (`bulk`), preview, stats, webhooks and their deliveries (which the
//! worker of SPEC §9 will fill).

use actix_web::{HttpResponse, web};
use license_core::{KeyFormat, LicenseStatus};
use license_store::audit::{AuditFilter, EventFilter};
use license_store::customers::{CustomerPatch, NewCustomer};
use license_store::generators::{GeneratorPatch, NewGenerator};
use license_store::licenses::{LicenseAction, LicensePatch, NewLicense};
use license_store::model::{ExpiryBasis, JsonObject, ProductStatus};
use license_store::products::{NewProduct, ProductPatch};
use license_store::search::{LicenseFilter, LicenseSort};
use license_store::settings::Settings;
use license_store::tokens::Role;
use license_store::{Actor, Page, Store, StoreError, StoreResult};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::auth::{Caller, Permission as P};
use crate::error::ApiError;
use crate::extract::ApiJson;

/// Runs a store call for `caller` on the blocking pool, with the caller as actor and the time now.
pub(crate) async fn run<T: Send + 'static>(
    caller: &Caller,
    f: impl FnOnce(&Store, &Actor, OffsetDateTime) -> StoreResult<T> + Send + 'static,
) -> Result<T, ApiError> {
    let env = caller.env.clone();
    let actor = caller.actor.clone();
    let now = OffsetDateTime::now_utc();
    Ok(web::block(move || f(env.store(), &actor, now)).await??)
}

/// `{"items": [...], "total": N}`.
fn list<T: Serialize>((items, total): (Vec<T>, i64)) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "items": items, "total": total }))
}

/// Absent stays `None`; `null` becomes `Some(None)` (clears a nullable field).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

fn bad(field: &str, message: &str) -> ApiError {
    ApiError::InvalidRequest(format!("{field}: {message}"))
}

fn parse_time(field: &str, v: &str) -> Result<OffsetDateTime, ApiError> {
    let t = OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
        .map_err(|_| bad(field, "must be an RFC 3339 time, e.g. 2027-01-31T00:00:00Z"))?;
    let year = t
        .checked_to_offset(time::UtcOffset::UTC)
        .map_or(i32::MAX, |u| u.year());
    if !(1970..9000).contains(&year) {
        return Err(bad(field, "must be between the years 1970 and 9000"));
    }
    Ok(t)
}

fn parse_uuid(field: &str, v: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(v).map_err(|_| bad(field, "must be a UUID"))
}

/// Paging query parameters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    limit: Option<i64>,
    offset: Option<i64>,
}

fn page(limit: Option<i64>, offset: Option<i64>) -> Result<Page, ApiError> {
    Ok(Page::new(limit.unwrap_or(50), offset.unwrap_or(0))?)
}

// ---- products -------------------------------------------------------------------------------

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProductBody {
    name: String,
    code: String,
    #[schema(value_type = Option<Object>)]
    metadata: Option<JsonObject>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProductPatchBody {
    name: Option<String>,
    #[schema(value_type = Option<String>)]
    status: Option<ProductStatus>,
    #[schema(value_type = Option<Object>)]
    metadata: Option<JsonObject>,
    #[schema(value_type = Option<Object>)]
    code: Option<serde_json::Value>,
}

#[utoipa::path(
    get,
    path = "/v1/{env}/products",
    summary = "List products",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name")),
    responses((status = 200, description = "OK"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn products(
    caller: Caller,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::Read)?;
    let page = page(q.limit, q.offset)?;
    Ok(list(run(&caller, move |s, _, _| s.products(page)).await?))
}

#[utoipa::path(
    post,
    path = "/v1/{env}/products",
    summary = "Create a product",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name")),
    request_body = ProductBody,
    responses((status = 201, description = "Created"), (status = 409, description = "Conflict: IN_USE, DUPLICATE, INVALID_TRANSITION, LICENSE_NOT_EDITABLE or LICENSE_HAS_ACTIVATIONS"), (status = 422, description = "INVALID_FIELD, IMMUTABLE_FIELD or WEAK_KEY_FORMAT (the error names the field)"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn create_product(
    caller: Caller,
    body: ApiJson<ProductBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::ManageCatalog)?;
    let b = body.0;
    let new = NewProduct {
        name: b.name,
        code: b.code,
        metadata: b.metadata,
    };
    let p = run(&caller, move |s, a, now| s.create_product(a, now, new)).await?;
    Ok(HttpResponse::Created().json(p))
}

#[utoipa::path(
    get,
    path = "/v1/{env}/products/{id}",
    summary = "Get a product",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name"), ("id" = Uuid, Path, description = "Id")),
    responses((status = 200, description = "OK"), (status = 404, description = "NOT_FOUND"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn product(
    caller: Caller,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::Read)?;
    let id = path.1;
    Ok(HttpResponse::Ok().json(run(&caller, move |s, _, _| s.product(id)).await?))
}

#[utoipa::path(
    patch,
    path = "/v1/{env}/products/{id}",
    summary = "Edit a product (code is immutable)",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name"), ("id" = Uuid, Path, description = "Id")),
    request_body = ProductPatchBody,
    responses((status = 200, description = "OK"), (status = 404, description = "NOT_FOUND"), (status = 422, description = "INVALID_FIELD, IMMUTABLE_FIELD or WEAK_KEY_FORMAT (the error names the field)"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn update_product(
    caller: Caller,
    path: web::Path<(String, Uuid)>,
    body: ApiJson<ProductPatchBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::ManageCatalog)?;
    let b = body.0;
    if b.code.is_some() {
        return Err(StoreError::Immutable { field: "code" }.into());
    }
    let (id, patch) = (
        path.1,
        ProductPatch {
            name: b.name,
            status: b.status,
            metadata: b.metadata,
        },
    );
    Ok(HttpResponse::Ok().json(
        run(&caller, move |s, a, now| {
            s.update_product(a, now, id, patch)
        })
        .await?,
    ))
}

#[utoipa::path(
    delete,
    path = "/v1/{env}/products/{id}",
    summary = "Delete a product nothing refers to",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name"), ("id" = Uuid, Path, description = "Id")),
    responses((status = 204, description = "Deleted"), (status = 404, description = "NOT_FOUND"), (status = 409, description = "Conflict: IN_USE, DUPLICATE, INVALID_TRANSITION, LICENSE_NOT_EDITABLE or LICENSE_HAS_ACTIVATIONS"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn delete_product(
    caller: Caller,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::ManageCatalog)?;
    let id = path.1;
    run(&caller, move |s, a, now| s.delete_product(a, now, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

// ---- generators -----------------------------------------------------------------------------

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GeneratorBody {
    product_id: Uuid,
    name: String,
    #[schema(value_type = Object)]
    format: KeyFormat,
    default_activation_limit: Option<i64>,
    default_validity_days: Option<i64>,
    #[schema(value_type = Option<String>)]
    expiry_basis: Option<ExpiryBasis>,
    #[schema(value_type = Option<Object>)]
    default_feature_flags: Option<JsonObject>,
    lease_ttl_seconds: Option<i64>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GeneratorPatchBody {
    name: Option<String>,
    default_activation_limit: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    default_validity_days: Option<Option<i64>>,
    #[schema(value_type = Option<String>)]
    expiry_basis: Option<ExpiryBasis>,
    #[schema(value_type = Option<Object>)]
    default_feature_flags: Option<JsonObject>,
    lease_ttl_seconds: Option<i64>,
    #[schema(value_type = Option<Object>)]
    product_id: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    format: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GeneratorQuery {
    product: Option<Uuid>,
    limit: Option<i64>,
    offset: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/v1/{env}/generators",
    summary = "List generators",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name")),
    responses((status = 200, description = "OK"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn generators(
    caller: Caller,
    q: web::Query<GeneratorQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::Read)?;
    let (page, product) = (page(q.limit, q.offset)?, q.product);
    Ok(list(
        run(&caller, move |s, _, _| s.generators(product, page)).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/v1/{env}/generators",
    summary = "Create a generator",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name")),
    request_body = GeneratorBody,
    responses((status = 201, description = "Created"), (status = 422, description = "INVALID_FIELD, IMMUTABLE_FIELD or WEAK_KEY_FORMAT (the error names the field)"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn create_generator(
    caller: Caller,
    body: ApiJson<GeneratorBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::ManageCatalog)?;
    let b = body.0;
    let new = NewGenerator {
        product_id: b.product_id,
        name: b.name,
        format: b.format,
        default_activation_limit: b.default_activation_limit,
        default_validity_days: b.default_validity_days,
        expiry_basis: b.expiry_basis,
        default_feature_flags: b.default_feature_flags,
        lease_ttl_seconds: b.lease_ttl_seconds,
    };
    let g = run(&caller, move |s, a, now| s.create_generator(a, now, new)).await?;
    Ok(HttpResponse::Created().json(g))
}

#[utoipa::path(
    get,
    path = "/v1/{env}/generators/{id}",
    summary = "Get a generator",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name"), ("id" = Uuid, Path, description = "Id")),
    responses((status = 200, description = "OK"), (status = 404, description = "NOT_FOUND"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn generator(
    caller: Caller,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::Read)?;
    let id = path.1;
    Ok(HttpResponse::Ok().json(run(&caller, move |s, _, _| s.generator(id)).await?))
}

#[utoipa::path(
    patch,
    path = "/v1/{env}/generators/{id}",
    summary = "Edit a generator's defaults",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name"), ("id" = Uuid, Path, description = "Id")),
    request_body = GeneratorPatchBody,
    responses((status = 200, description = "OK"), (status = 404, description = "NOT_FOUND"), (status = 422, description = "INVALID_FIELD, IMMUTABLE_FIELD or WEAK_KEY_FORMAT (the error names the field)"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn update_generator(
    caller: Caller,
    path: web::Path<(String, Uuid)>,
    body: ApiJson<GeneratorPatchBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::ManageCatalog)?;
    let b = body.0;
    for (field, v) in [("product_id", &b.product_id), ("format", &b.format)] {
        if v.is_some() {
            return Err(StoreError::Immutable { field }.into());
        }
    }
    let patch = GeneratorPatch {
        name: b.name,
        default_activation_limit: b.default_activation_limit,
        default_validity_days: b.default_validity_days,
        expiry_basis: b.expiry_basis,
        default_feature_flags: b.default_feature_flags,
        lease_ttl_seconds: b.lease_ttl_seconds,
    };
    let id = path.1;
    Ok(HttpResponse::Ok().json(
        run(&caller, move |s, a, now| {
            s.update_generator(a, now, id, patch)
        })
        .await?,
    ))
}

#[utoipa::path(
    delete,
    path = "/v1/{env}/generators/{id}",
    summary = "Delete a generator no license was minted from",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name"), ("id" = Uuid, Path, description = "Id")),
    responses((status = 204, description = "Deleted"), (status = 404, description = "NOT_FOUND"), (status = 409, description = "Conflict: IN_USE, DUPLICATE, INVALID_TRANSITION, LICENSE_NOT_EDITABLE or LICENSE_HAS_ACTIVATIONS"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn delete_generator(
    caller: Caller,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::ManageCatalog)?;
    let id = path.1;
    run(&caller, move |s, a, now| s.delete_generator(a, now, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

// ---- customers ------------------------------------------------------------------------------

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CustomerBody {
    name: String,
    email: String,
    #[schema(value_type = Option<Object>)]
    metadata: Option<JsonObject>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CustomerPatchBody {
    name: Option<String>,
    email: Option<String>,
    #[schema(value_type = Option<Object>)]
    metadata: Option<JsonObject>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CustomerQuery {
    q: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/v1/{env}/customers",
    summary = "List customers (q searches name and email)",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name")),
    responses((status = 200, description = "OK"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn customers(
    caller: Caller,
    q: web::Query<CustomerQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::Read)?;
    let page = page(q.limit, q.offset)?;
    let text = q.q.clone();
    Ok(list(
        run(&caller, move |s, _, _| s.customers(text.as_deref(), page)).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/v1/{env}/customers",
    summary = "Create a customer",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name")),
    request_body = CustomerBody,
    responses((status = 201, description = "Created"), (status = 409, description = "Conflict: IN_USE, DUPLICATE, INVALID_TRANSITION, LICENSE_NOT_EDITABLE or LICENSE_HAS_ACTIVATIONS"), (status = 422, description = "INVALID_FIELD, IMMUTABLE_FIELD or WEAK_KEY_FORMAT (the error names the field)"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn create_customer(
    caller: Caller,
    body: ApiJson<CustomerBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::ManageCatalog)?;
    let b = body.0;
    let new = NewCustomer {
        name: b.name,
        email: b.email,
        metadata: b.metadata,
    };
    let c = run(&caller, move |s, a, now| s.create_customer(a, now, new)).await?;
    Ok(HttpResponse::Created().json(c))
}

#[utoipa::path(
    get,
    path = "/v1/{env}/customers/{id}",
    summary = "Get a customer",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name"), ("id" = Uuid, Path, description = "Id")),
    responses((status = 200, description = "OK"), (status = 404, description = "NOT_FOUND"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn customer(
    caller: Caller,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::Read)?;
    let id = path.1;
    Ok(HttpResponse::Ok().json(run(&caller, move |s, _, _| s.customer(id)).await?))
}

#[utoipa::path(
    patch,
    path = "/v1/{env}/customers/{id}",
    summary = "Edit a customer",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name"), ("id" = Uuid, Path, description = "Id")),
    request_body = CustomerPatchBody,
    responses((status = 200, description = "OK"), (status = 404, description = "NOT_FOUND"), (status = 409, description = "Conflict: IN_USE, DUPLICATE, INVALID_TRANSITION, LICENSE_NOT_EDITABLE or LICENSE_HAS_ACTIVATIONS"), (status = 422, description = "INVALID_FIELD, IMMUTABLE_FIELD or WEAK_KEY_FORMAT (the error names the field)"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn update_customer(
    caller: Caller,
    path: web::Path<(String, Uuid)>,
    body: ApiJson<CustomerPatchBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::ManageCatalog)?;
    let b = body.0;
    let (id, patch) = (
        path.1,
        CustomerPatch {
            name: b.name,
            email: b.email,
            metadata: b.metadata,
        },
    );
    Ok(HttpResponse::Ok().json(
        run(&caller, move |s, a, now| {
            s.update_customer(a, now, id, patch)
        })
        .await?,
    ))
}

#[utoipa::path(
    delete,
    path = "/v1/{env}/customers/{id}",
    summary = "Delete a customer who holds no license",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name"), ("id" = Uuid, Path, description = "Id")),
    responses((status = 204, description = "Deleted"), (status = 404, description = "NOT_FOUND"), (status = 409, description = "Conflict: IN_USE, DUPLICATE, INVALID_TRANSITION, LICENSE_NOT_EDITABLE or LICENSE_HAS_ACTIVATIONS"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn delete_customer(
    caller: Caller,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::ManageCatalog)?;
    let id = path.1;
    run(&caller, move |s, a, now| s.delete_customer(a, now, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

// ---- licenses -------------------------------------------------------------------------------

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
            expires_before: self.expires_before.as_deref().map(|v| parse_time("expires_before", v)).transpose()?,
            expires_after: self.expires_after.as_deref().map(|v| parse_time("expires_after", v)).transpose()?,
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

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LicenseBody {
    product_id: Uuid,
    generator_id: Uuid,
    customer_id: Option<Uuid>,
    activation_limit: Option<i64>,
    expires_at: Option<String>,
    #[schema(value_type = Option<Object>)]
    feature_flags: Option<JsonObject>,
    #[schema(value_type = Option<Object>)]
    metadata: Option<JsonObject>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LicensePatchBody {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Uuid>)]
    customer_id: Option<Option<Uuid>>,
    activation_limit: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    expires_at: Option<Option<String>>,
    #[schema(value_type = Option<Object>)]
    feature_flags: Option<JsonObject>,
    #[schema(value_type = Option<Object>)]
    metadata: Option<JsonObject>,
    #[schema(value_type = Option<Object>)]
    key: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    product_id: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    generator_id: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    environment: Option<serde_json::Value>,
}

#[utoipa::path(
    get,
    path = "/v1/{env}/licenses",
    summary = "List and search licenses",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name")),
    responses((status = 200, description = "OK"), (status = 400, description = "INVALID_REQUEST"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn licenses(
    caller: Caller,
    q: web::Query<LicenseQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::Read)?;
    let (filter, page) = q.filter()?;
    Ok(list(
        run(&caller, move |s, _, _| s.licenses(&filter, page)).await?,
    ))
}

fn with_key(created: license_store::licenses::Created) -> HttpResponse {
    let mut body = serde_json::to_value(&created.license).unwrap_or_default();
    if let Some(o) = body.as_object_mut() {
        o.insert("key".into(), created.key.expose().into());
    }
    HttpResponse::Created().json(body)
}

#[utoipa::path(
    post,
    path = "/v1/{env}/licenses",
    summary = "Mint a license; the response holds the full key, shown once",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name")),
    request_body = LicenseBody,
    responses((status = 201, description = "Created"), (status = 422, description = "INVALID_FIELD, IMMUTABLE_FIELD or WEAK_KEY_FORMAT (the error names the field)"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn create_license(
    caller: Caller,
    body: ApiJson<LicenseBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::ManageLicenses)?;
    let b = body.0;
    let new = NewLicense {
        product_id: b.product_id,
        generator_id: b.generator_id,
        customer_id: b.customer_id,
        activation_limit: b.activation_limit,
        expires_at: b
            .expires_at
            .as_deref()
            .map(|v| parse_time("expires_at", v))
            .transpose()?,
        feature_flags: b.feature_flags,
        metadata: b.metadata,
    };
    Ok(with_key(
        run(&caller, move |s, a, now| s.create_license(a, now, new)).await?,
    ))
}

#[utoipa::path(
    get,
    path = "/v1/{env}/licenses/{id}",
    summary = "Get a license",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name"), ("id" = Uuid, Path, description = "Id")),
    responses((status = 200, description = "OK"), (status = 404, description = "NOT_FOUND"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn license(
    caller: Caller,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::Read)?;
    let id = path.1;
    Ok(HttpResponse::Ok().json(run(&caller, move |s, _, _| s.license(id)).await?))
}

#[utoipa::path(
    patch,
    path = "/v1/{env}/licenses/{id}",
    summary = "Edit a license",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name"), ("id" = Uuid, Path, description = "Id")),
    request_body = LicensePatchBody,
    responses((status = 200, description = "OK"), (status = 404, description = "NOT_FOUND"), (status = 409, description = "Conflict: IN_USE, DUPLICATE, INVALID_TRANSITION, LICENSE_NOT_EDITABLE or LICENSE_HAS_ACTIVATIONS"), (status = 422, description = "INVALID_FIELD, IMMUTABLE_FIELD or WEAK_KEY_FORMAT (the error names the field)"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn update_license(
    caller: Caller,
    path: web::Path<(String, Uuid)>,
    body: ApiJson<LicensePatchBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::ManageLicenses)?;
    let b = body.0;
    for (field, v) in [
        ("key", &b.key),
        ("product_id", &b.product_id),
        ("generator_id", &b.generator_id),
        ("environment", &b.environment),
    ] {
        if v.is_some() {
            return Err(StoreError::Immutable { field }.into());
        }
    }
    let patch = LicensePatch {
        customer_id: b.customer_id,
        activation_limit: b.activation_limit,
        expires_at: b
            .expires_at
            .map(|e| {
                e.as_deref()
                    .map(|v| parse_time("expires_at", v))
                    .transpose()
            })
            .transpose()?,
        feature_flags: b.feature_flags,
        metadata: b.metadata,
    };
    let id = path.1;
    Ok(HttpResponse::Ok().json(
        run(&caller, move |s, a, now| {
            s.update_license(a, now, id, patch)
        })
        .await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AssignBody {
    customer_id: Uuid,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SuspendBody {
    reason: String,
}

pub(crate) async fn act(
    caller: &Caller,
    id: Uuid,
    action: LicenseAction,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(run(caller, move |s, a, now| s.act(a, now, id, action)).await?))
}

#[utoipa::path(
    post,
    path = "/v1/{env}/licenses/{id}/assign",
    summary = "Assign to a customer",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name"), ("id" = Uuid, Path, description = "Id")),
    request_body = AssignBody,
    responses((status = 200, description = "OK"), (status = 404, description = "NOT_FOUND"), (status = 409, description = "Conflict: IN_USE, DUPLICATE, INVALID_TRANSITION, LICENSE_NOT_EDITABLE or LICENSE_HAS_ACTIVATIONS"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn assign(
    caller: Caller,
    path: web::Path<(String, Uuid)>,
    body: ApiJson<AssignBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::Assign)?;
    act(
        &caller,
        path.1,
        LicenseAction::Assign {
            customer_id: body.0.customer_id,
        },
    )
    .await
}

#[utoipa::path(
    post,
    path = "/v1/{env}/licenses/{id}/suspend",
    summary = "Suspend",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name"), ("id" = Uuid, Path, description = "Id")),
    request_body = SuspendBody,
    responses((status = 200, description = "OK"), (status = 404, description = "NOT_FOUND"), (status = 409, description = "Conflict: IN_USE, DUPLICATE, INVALID_TRANSITION, LICENSE_NOT_EDITABLE or LICENSE_HAS_ACTIVATIONS"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn suspend(
    caller: Caller,
    path: web::Path<(String, Uuid)>,
    body: ApiJson<SuspendBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::ManageLicenses)?;
    act(
        &caller,
        path.1,
        LicenseAction::Suspend {
            reason: body.0.reason,
        },
    )
    .await
}

#[utoipa::path(
    post,
    path = "/v1/{env}/licenses/{id}/unsuspend",
    summary = "Lift a suspension",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name"), ("id" = Uuid, Path, description = "Id")),
    responses((status = 200, description = "OK"), (status = 404, description = "NOT_FOUND"), (status = 409, description = "Conflict: IN_USE, DUPLICATE, INVALID_TRANSITION, LICENSE_NOT_EDITABLE or LICENSE_HAS_ACTIVATIONS"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn unsuspend(
    caller: Caller,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::ManageLicenses)?;
    act(&caller, path.1, LicenseAction::Unsuspend).await
}

#[utoipa::path(
    post,
    path = "/v1/{env}/licenses/{id}/inactivate",
    summary = "Pause an active license",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name"), ("id" = Uuid, Path, description = "Id")),
    responses((status = 200, description = "OK"), (status = 404, description = "NOT_FOUND"), (status = 409, description = "Conflict: IN_USE, DUPLICATE, INVALID_TRANSITION, LICENSE_NOT_EDITABLE or LICENSE_HAS_ACTIVATIONS"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn inactivate(
    caller: Caller,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::Pause)?;
    act(&caller, path.1, LicenseAction::Inactivate).await
}

#[utoipa::path(
    post,
    path = "/v1/{env}/licenses/{id}/reactivate",
    summary = "Resume an inactive license",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name"), ("id" = Uuid, Path, description = "Id")),
    responses((status = 200, description = "OK"), (status = 404, description = "NOT_FOUND"), (status = 409, description = "Conflict: IN_USE, DUPLICATE, INVALID_TRANSITION, LICENSE_NOT_EDITABLE or LICENSE_HAS_ACTIVATIONS"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn reactivate(
    caller: Caller,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::Pause)?;
    act(&caller, path.1, LicenseAction::Reactivate).await
}

#[utoipa::path(
    post,
    path = "/v1/{env}/licenses/{id}/revoke",
    summary = "Revoke (deactivates every activation)",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name"), ("id" = Uuid, Path, description = "Id")),
    responses((status = 200, description = "OK"), (status = 404, description = "NOT_FOUND"), (status = 409, description = "Conflict: IN_USE, DUPLICATE, INVALID_TRANSITION, LICENSE_NOT_EDITABLE or LICENSE_HAS_ACTIVATIONS"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn revoke(
    caller: Caller,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::ManageLicenses)?;
    act(&caller, path.1, LicenseAction::Revoke).await
}

#[utoipa::path(
    post,
    path = "/v1/{env}/licenses/{id}/remint",
    summary = "Replace with a new license and key; the response holds the new key",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name"), ("id" = Uuid, Path, description = "Id")),
    responses((status = 201, description = "Created"), (status = 404, description = "NOT_FOUND"), (status = 409, description = "Conflict: IN_USE, DUPLICATE, INVALID_TRANSITION, LICENSE_NOT_EDITABLE or LICENSE_HAS_ACTIVATIONS"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn remint(
    caller: Caller,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::ManageLicenses)?;
    let id = path.1;
    Ok(with_key(
        run(&caller, move |s, a, now| s.remint(a, now, id)).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/v1/{env}/licenses/{id}/reveal",
    summary = "Read the full key back (audited)",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name"), ("id" = Uuid, Path, description = "Id")),
    responses((status = 200, description = "OK"), (status = 404, description = "NOT_FOUND"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn reveal(
    caller: Caller,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::Reveal)?;
    let id = path.1;
    let key = run(&caller, move |s, a, now| s.reveal(a, now, id)).await?;
    Ok(HttpResponse::Ok().json(json!({ "key": key.expose() })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeleteQuery {
    force: Option<bool>,
}

#[utoipa::path(
    delete,
    path = "/v1/{env}/licenses/{id}",
    summary = "Delete a license (force=true once activated)",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name"), ("id" = Uuid, Path, description = "Id")),
    responses((status = 204, description = "Deleted"), (status = 404, description = "NOT_FOUND"), (status = 409, description = "Conflict: IN_USE, DUPLICATE, INVALID_TRANSITION, LICENSE_NOT_EDITABLE or LICENSE_HAS_ACTIVATIONS"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn delete_license(
    caller: Caller,
    path: web::Path<(String, Uuid)>,
    q: web::Query<DeleteQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::ManageLicenses)?;
    let (id, force) = (path.1, q.force.unwrap_or(false));
    run(&caller, move |s, a, now| {
        s.delete_license(a, now, id, force)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    get,
    path = "/v1/{env}/licenses/{id}/activations",
    summary = "A license's activations, newest first",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name"), ("id" = Uuid, Path, description = "Id")),
    responses((status = 200, description = "OK"), (status = 404, description = "NOT_FOUND"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn license_activations(
    caller: Caller,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::Read)?;
    let id = path.1;
    let items = run(&caller, move |s, _, _| s.license_activations(id)).await?;
    let total = items.len() as i64;
    Ok(list((items, total)))
}

#[utoipa::path(
    post,
    path = "/v1/{env}/activations/{id}/deactivate",
    summary = "Deactivate one activation",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name"), ("id" = Uuid, Path, description = "Id")),
    responses((status = 200, description = "OK"), (status = 404, description = "NOT_FOUND"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn deactivate_activation(
    caller: Caller,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::DeactivateActivation)?;
    let id = path.1;
    Ok(HttpResponse::Ok().json(
        run(&caller, move |s, a, now| {
            s.deactivate_activation(a, now, id)
        })
        .await?,
    ))
}

// ---- tokens, settings, audit, events, jobs ---------------------------------------------------

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenBody {
    name: String,
    #[schema(value_type = String)]
    role: Role,
}

#[utoipa::path(
    get,
    path = "/v1/{env}/tokens",
    summary = "List admin tokens (never their secrets)",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name")),
    responses((status = 200, description = "OK"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn tokens(caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require(P::Administer)?;
    let items = run(&caller, |s, _, _| s.tokens()).await?;
    let total = items.len() as i64;
    Ok(list((items, total)))
}

#[utoipa::path(
    post,
    path = "/v1/{env}/tokens",
    summary = "Create a token; the response holds its secret, shown once",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name")),
    request_body = TokenBody,
    responses((status = 201, description = "Created"), (status = 409, description = "Conflict: IN_USE, DUPLICATE, INVALID_TRANSITION, LICENSE_NOT_EDITABLE or LICENSE_HAS_ACTIVATIONS"), (status = 422, description = "INVALID_FIELD, IMMUTABLE_FIELD or WEAK_KEY_FORMAT (the error names the field)"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn create_token(
    caller: Caller,
    body: ApiJson<TokenBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::Administer)?;
    let b = body.0;
    let (token, secret) = run(&caller, move |s, a, now| {
        s.create_token(a, now, &b.name, b.role)
    })
    .await?;
    let mut v = serde_json::to_value(&token).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("token".into(), secret.into());
    }
    Ok(HttpResponse::Created().json(v))
}

#[utoipa::path(
    delete,
    path = "/v1/{env}/tokens/{id}",
    summary = "Delete a token",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name"), ("id" = Uuid, Path, description = "Id")),
    responses((status = 204, description = "Deleted"), (status = 404, description = "NOT_FOUND"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn delete_token(
    caller: Caller,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::Administer)?;
    let id = path.1;
    run(&caller, move |s, a, now| s.delete_token(a, now, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    get,
    path = "/v1/{env}/settings",
    summary = "The environment's settings",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name")),
    responses((status = 200, description = "OK"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn settings(caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require(P::Read)?;
    Ok(HttpResponse::Ok().json(run(&caller, |s, _, _| s.settings()).await?))
}

#[utoipa::path(
    put,
    path = "/v1/{env}/settings",
    summary = "Replace the settings",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name")),
    responses((status = 200, description = "OK"), (status = 422, description = "INVALID_FIELD, IMMUTABLE_FIELD or WEAK_KEY_FORMAT (the error names the field)"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn put_settings(
    caller: Caller,
    body: ApiJson<Settings>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::Administer)?;
    let new = body.0;
    let saved = run(&caller, move |s, a, now| s.put_settings(a, now, &new)).await?;
    caller.env.invalidate();
    Ok(HttpResponse::Ok().json(saved))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditQuery {
    target_id: Option<String>,
    action: Option<String>,
    actor: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/v1/{env}/audit",
    summary = "The audit log, newest first",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name")),
    responses((status = 200, description = "OK"), (status = 400, description = "INVALID_REQUEST"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn audit(
    caller: Caller,
    q: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::Read)?;
    let q = q.into_inner();
    let filter = AuditFilter {
        target_id: q.target_id,
        action: q.action,
        actor: q.actor,
        since: q
            .since
            .as_deref()
            .map(|v| parse_time("since", v))
            .transpose()?,
        until: q
            .until
            .as_deref()
            .map(|v| parse_time("until", v))
            .transpose()?,
    };
    let page = page(q.limit, q.offset)?;
    Ok(list(
        run(&caller, move |s, _, _| s.audit_log(&filter, page)).await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventQuery {
    #[serde(rename = "type")]
    event_type: Option<String>,
    license_id: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/v1/{env}/events",
    summary = "Outbox events, newest first",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name")),
    responses((status = 200, description = "OK"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn events(
    caller: Caller,
    q: web::Query<EventQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::Read)?;
    let q = q.into_inner();
    let filter = EventFilter {
        event_type: q.event_type,
        license_id: q.license_id,
    };
    let page = page(q.limit, q.offset)?;
    Ok(list(
        run(&caller, move |s, _, _| s.events(&filter, page)).await?,
    ))
}

#[utoipa::path(
    get,
    path = "/v1/{env}/jobs",
    summary = "Background jobs, newest first",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name")),
    responses((status = 200, description = "OK"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn jobs(
    caller: Caller,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::Read)?;
    let page = page(q.limit, q.offset)?;
    Ok(list(run(&caller, move |s, _, _| s.jobs(page)).await?))
}

#[utoipa::path(
    get,
    path = "/v1/{env}/jobs/{id}",
    summary = "A job and its progress",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name"), ("id" = Uuid, Path, description = "Id")),
    responses((status = 200, description = "OK"), (status = 404, description = "NOT_FOUND"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn job(
    caller: Caller,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::Read)?;
    let id = path.1;
    Ok(HttpResponse::Ok().json(run(&caller, move |s, _, _| s.job(id)).await?))
}

// ---- stats, preview, webhooks ----------------------------------------------------------------

#[utoipa::path(
    get,
    path = "/v1/{env}/stats",
    summary = "Counts by status and product, activation-limit totals",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name")),
    responses((status = 200, description = "OK"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn stats(caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require(P::Read)?;
    Ok(HttpResponse::Ok().json(run(&caller, |s, _, _| s.stats()).await?))
}

fn samples(base: &str, env: &str, key_placeholder: &str) -> serde_json::Value {
    let url = format!("{base}/v1/{env}/validate");
    json!({
        "curl": format!("curl -s -X POST '{url}' \\\n  -H 'content-type: application/json' \\\n  -d '{{\"key\":\"{key_placeholder}\",\"fingerprint\":\"<device id>\"}}'"),
        "php": format!("<?php\n$ch = curl_init('{url}');\ncurl_setopt_array($ch, [\n  CURLOPT_POST => true,\n  CURLOPT_RETURNTRANSFER => true,\n  CURLOPT_HTTPHEADER => ['Content-Type: application/json'],\n  CURLOPT_POSTFIELDS => json_encode(['key' => '{key_placeholder}', 'fingerprint' => '<device id>']),\n]);\n$result = json_decode(curl_exec($ch), true);\n$valid = $result['valid'] ?? false;\n"),
        "javascript": format!("const res = await fetch('{url}', {{\n  method: 'POST',\n  headers: {{ 'Content-Type': 'application/json' }},\n  body: JSON.stringify({{ key: '{key_placeholder}', fingerprint: '<device id>' }}),\n}});\nconst result = await res.json();\nconst valid = result.valid === true;\n"),
        "python": format!("import requests\n\nresult = requests.post(\n    \"{url}\",\n    json={{\"key\": \"{key_placeholder}\", \"fingerprint\": \"<device id>\"}},\n    timeout=10,\n).json()\nvalid = result.get(\"valid\", False)\n"),
    })
}

/// License, activations, a signed offline validation file (SPEC §6) and code samples that call
/// this deployment's validation API with the masked key as a placeholder.
#[utoipa::path(
    get,
    path = "/v1/{env}/licenses/{id}/preview",
    summary = "License, activations, a signed offline file and code samples",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name"), ("id" = Uuid, Path, description = "Id")),
    responses((status = 200, description = "OK"), (status = 404, description = "NOT_FOUND"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn preview(
    caller: Caller,
    path: web::Path<(String, Uuid)>,
    state: web::Data<crate::AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::Preview)?;
    let (env, id) = (caller.env.clone(), path.1);
    let (view, activations, lease) = web::block(move || -> Result<_, ApiError> {
        let view = env.store().license(id)?;
        let activations = env.store().license_activations(id)?;
        let settings = env.settings()?;
        let signer = env.signer()?;
        let now = OffsetDateTime::now_utc();
        let l = &view.license;
        // An offline file is a promise that the license is usable: none for a license that would
        // not validate now (revoked, suspended, expired, unassigned ...).
        let snapshot = license_core::LicenseSnapshot {
            status: l.status,
            product_id: view.product.id,
            product_code: view.product.code.clone(),
            expires_at: l.expires_at,
            activation_limit: l.limit(),
        };
        let decision = license_core::decide_validation(
            &snapshot,
            None,
            license_core::Instance::NotGiven,
            now,
            settings.grace(),
        );
        if !decision.outcome.is_success() {
            return Ok((view, activations, Err(decision.outcome.code())));
        }
        let ttl = time::Duration::seconds(i64::from(settings.offline_file_ttl_seconds));
        let exp = license_core::lease::lease_expiry(now, ttl, l.expires_at, settings.grace());
        let claims = license_core::Claims {
            kid: signer.kid().to_owned(),
            env: env.name().to_owned(),
            lid: l.id,
            pid: l.product_id,
            fp: None,
            st: l.status,
            ent: l.feature_flags.clone(),
            iat: now.unix_timestamp(),
            exp: exp.unix_timestamp(),
            lexp: l.expires_at.map(OffsetDateTime::unix_timestamp),
            nonce: None,
        };
        let lease = signer
            .sign(&claims)
            .map_err(|e| ApiError::Store(StoreError::Corrupt(e.to_string())))?;
        Ok((view, activations, Ok(lease)))
    })
    .await??;
    let l = &view.license;
    let public = json!({
        "id": l.id,
        "key_display": l.key_display,
        "product": {"id": view.product.id, "name": view.product.name, "code": view.product.code},
        "status": l.status,
        "activation_limit": l.activation_limit,
        "activations_active": l.activations_active,
        "expires_at": l.expires_at.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok()),
        "feature_flags": l.feature_flags,
    });
    Ok(HttpResponse::Ok().json(json!({
        "license": view,
        "activations": activations,
        "offline_file": match &lease {
            Ok(lease) => json!({"format": "keysmith.license-file.v1", "license": public, "lease": lease}),
            Err(_) => serde_json::Value::Null,
        },
        "offline_file_refused": lease.as_ref().err(),
        "code_samples": samples(&state.public_validation_url, caller.env.name(), &l.key_display),
    })))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WebhookBody {
    url: String,
    events: Vec<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WebhookPatchBody {
    url: Option<String>,
    events: Option<Vec<String>>,
    enabled: Option<bool>,
}

#[utoipa::path(
    get,
    path = "/v1/{env}/webhooks",
    summary = "List webhook endpoints",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name")),
    responses((status = 200, description = "OK"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn webhooks(
    caller: Caller,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::Administer)?;
    let page = page(q.limit, q.offset)?;
    Ok(list(run(&caller, move |s, _, _| s.webhooks(page)).await?))
}

#[utoipa::path(
    post,
    path = "/v1/{env}/webhooks",
    summary = "Create a webhook endpoint; the response holds its signing secret, shown once",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name")),
    request_body = WebhookBody,
    responses((status = 201, description = "Created"), (status = 422, description = "INVALID_FIELD, IMMUTABLE_FIELD or WEAK_KEY_FORMAT (the error names the field)"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn create_webhook(
    caller: Caller,
    body: ApiJson<WebhookBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::Administer)?;
    let b = body.0;
    let (hook, secret) = run(&caller, move |s, a, now| {
        s.create_webhook(a, now, &b.url, b.events)
    })
    .await?;
    let mut v = serde_json::to_value(&hook).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("secret".into(), secret.into());
    }
    Ok(HttpResponse::Created().json(v))
}

#[utoipa::path(
    get,
    path = "/v1/{env}/webhooks/{id}",
    summary = "Get a webhook endpoint",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name"), ("id" = Uuid, Path, description = "Id")),
    responses((status = 200, description = "OK"), (status = 404, description = "NOT_FOUND"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn webhook(
    caller: Caller,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::Administer)?;
    let id = path.1;
    Ok(HttpResponse::Ok().json(run(&caller, move |s, _, _| s.webhook(id)).await?))
}

#[utoipa::path(
    get,
    path = "/v1/{env}/webhooks/{id}/deliveries",
    summary = "An endpoint's deliveries (every attempt of every event), newest first",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name"), ("id" = Uuid, Path, description = "Id")),
    responses((status = 200, description = "OK"), (status = 404, description = "NOT_FOUND"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn webhook_deliveries(
    caller: Caller,
    path: web::Path<(String, Uuid)>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::Administer)?;
    let (id, page) = (path.1, page(q.limit, q.offset)?);
    Ok(list(
        run(&caller, move |s, _, _| s.webhook_deliveries(id, page)).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/v1/{env}/webhooks/{id}/ping",
    summary = "Queue a webhook.ping event for this endpoint only",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name"), ("id" = Uuid, Path, description = "Id")),
    responses((status = 202, description = "Accepted: the delivery"), (status = 404, description = "NOT_FOUND"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn ping_webhook(
    caller: Caller,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::Administer)?;
    let id = path.1;
    Ok(HttpResponse::Accepted()
        .json(run(&caller, move |s, a, now| s.ping_webhook(a, now, id)).await?))
}

#[utoipa::path(
    post,
    path = "/v1/{env}/deliveries/{id}/retry",
    summary = "Send a delivery again now",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name"), ("id" = Uuid, Path, description = "Id")),
    responses((status = 202, description = "Accepted: the delivery"), (status = 404, description = "NOT_FOUND"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn retry_delivery(
    caller: Caller,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::Administer)?;
    let id = path.1;
    Ok(HttpResponse::Accepted()
        .json(run(&caller, move |s, a, now| s.retry_delivery(a, now, id)).await?))
}

#[utoipa::path(
    patch,
    path = "/v1/{env}/webhooks/{id}",
    summary = "Edit a webhook endpoint",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name"), ("id" = Uuid, Path, description = "Id")),
    request_body = WebhookPatchBody,
    responses((status = 200, description = "OK"), (status = 404, description = "NOT_FOUND"), (status = 422, description = "INVALID_FIELD, IMMUTABLE_FIELD or WEAK_KEY_FORMAT (the error names the field)"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn update_webhook(
    caller: Caller,
    path: web::Path<(String, Uuid)>,
    body: ApiJson<WebhookPatchBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::Administer)?;
    let (b, id) = (body.0, path.1);
    Ok(HttpResponse::Ok().json(
        run(&caller, move |s, a, now| {
            s.update_webhook(a, now, id, b.url, b.events, b.enabled)
        })
        .await?,
    ))
}

#[utoipa::path(
    delete,
    path = "/v1/{env}/webhooks/{id}",
    summary = "Delete a webhook endpoint",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name"), ("id" = Uuid, Path, description = "Id")),
    responses((status = 204, description = "Deleted"), (status = 404, description = "NOT_FOUND"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn delete_webhook(
    caller: Caller,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::Administer)?;
    let id = path.1;
    run(&caller, move |s, a, now| s.delete_webhook(a, now, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Routes of the admin service under `/v1/{env}`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        crate::bulk::routes(web::scope("/v1/{env}"))
            .route("/products", web::get().to(products))
            .route("/products", web::post().to(create_product))
            .route("/products/{id}", web::get().to(product))
            .route("/products/{id}", web::patch().to(update_product))
            .route("/products/{id}", web::delete().to(delete_product))
            .route("/generators", web::get().to(generators))
            .route("/generators", web::post().to(create_generator))
            .route("/generators/{id}", web::get().to(generator))
            .route("/generators/{id}", web::patch().to(update_generator))
            .route("/generators/{id}", web::delete().to(delete_generator))
            .route("/customers", web::get().to(customers))
            .route("/customers", web::post().to(create_customer))
            .route("/customers/{id}", web::get().to(customer))
            .route("/customers/{id}", web::patch().to(update_customer))
            .route("/customers/{id}", web::delete().to(delete_customer))
            .route("/licenses", web::get().to(licenses))
            .route("/licenses", web::post().to(create_license))
            .route("/licenses/{id}", web::get().to(license))
            .route("/licenses/{id}", web::patch().to(update_license))
            .route("/licenses/{id}", web::delete().to(delete_license))
            .route(
                "/licenses/{id}/activations",
                web::get().to(license_activations),
            )
            .route("/licenses/{id}/assign", web::post().to(assign))
            .route("/licenses/{id}/suspend", web::post().to(suspend))
            .route("/licenses/{id}/unsuspend", web::post().to(unsuspend))
            .route("/licenses/{id}/inactivate", web::post().to(inactivate))
            .route("/licenses/{id}/reactivate", web::post().to(reactivate))
            .route("/licenses/{id}/revoke", web::post().to(revoke))
            .route("/licenses/{id}/remint", web::post().to(remint))
            .route("/licenses/{id}/reveal", web::post().to(reveal))
            .route(
                "/activations/{id}/deactivate",
                web::post().to(deactivate_activation),
            )
            .route("/tokens", web::get().to(tokens))
            .route("/tokens", web::post().to(create_token))
            .route("/tokens/{id}", web::delete().to(delete_token))
            .route("/settings", web::get().to(settings))
            .route("/settings", web::put().to(put_settings))
            .route("/audit", web::get().to(audit))
            .route("/events", web::get().to(events))
            .route("/jobs", web::get().to(jobs))
            .route("/jobs/{id}", web::get().to(job))
            .route("/stats", web::get().to(stats))
            .route("/licenses/{id}/preview", web::get().to(preview))
            .route("/webhooks", web::get().to(webhooks))
            .route("/webhooks", web::post().to(create_webhook))
            .route("/webhooks/{id}", web::get().to(webhook))
            .route(
                "/webhooks/{id}/deliveries",
                web::get().to(webhook_deliveries),
            )
            .route("/webhooks/{id}/ping", web::post().to(ping_webhook))
            .route("/deliveries/{id}/retry", web::post().to(retry_delivery))
            .route("/webhooks/{id}", web::patch().to(update_webhook))
            .route("/webhooks/{id}", web::delete().to(delete_webhook)),
    );
}
