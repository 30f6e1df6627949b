//! The admin REST API (SPEC §8) under `/v1/{env}`: bearer-token auth, one permission per route,
//! and thin handlers that turn requests into store calls. Work in progress (issue 5): catalog,
//! licenses and their actions, activations, tokens, settings, audit, events, jobs, bulk
//! generation, export/import (`bulk`), preview, stats and webhooks are here; webhook deliveries
//! (issue 6) and the admin OpenAPI document are not yet.

use actix_web::{HttpResponse, web};
use license_core::{KeyFormat, LicenseStatus};
use license_store::admin::{Role, Settings};
use license_store::audit::{AuditFilter, EventFilter};
use license_store::catalog::{
    CustomerPatch, GeneratorPatch, NewCustomer, NewGenerator, NewProduct, ProductPatch,
};
use license_store::licenses::{
    LicenseAction, LicenseFilter, LicensePatch, LicenseSort, NewLicense,
};
use license_store::model::{ExpiryBasis, JsonObject, ProductStatus};
use license_store::{Actor, Page, Store, StoreError, StoreResult};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::auth::{Caller, Permission as P};
use crate::error::ApiError;
use crate::extract::ApiJson;

/// Runs a store call for `caller` on the blocking pool, with the caller as actor and the time now.
async fn run<T: Send + 'static>(
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
    OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
        .map_err(|_| bad(field, "must be an RFC 3339 time, e.g. 2027-01-31T00:00:00Z"))
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductBody {
    name: String,
    code: String,
    metadata: Option<JsonObject>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductPatchBody {
    name: Option<String>,
    status: Option<ProductStatus>,
    metadata: Option<JsonObject>,
    code: Option<serde_json::Value>,
}

async fn products(caller: Caller, q: web::Query<PageQuery>) -> Result<HttpResponse, ApiError> {
    caller.require(P::Read)?;
    let page = page(q.limit, q.offset)?;
    Ok(list(run(&caller, move |s, _, _| s.products(page)).await?))
}

async fn create_product(
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

async fn product(
    caller: Caller,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::Read)?;
    let id = path.1;
    Ok(HttpResponse::Ok().json(run(&caller, move |s, _, _| s.product(id)).await?))
}

async fn update_product(
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

async fn delete_product(
    caller: Caller,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::ManageCatalog)?;
    let id = path.1;
    run(&caller, move |s, a, now| s.delete_product(a, now, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

// ---- generators -----------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GeneratorBody {
    product_id: Uuid,
    name: String,
    format: KeyFormat,
    default_activation_limit: Option<i64>,
    default_validity_days: Option<i64>,
    expiry_basis: Option<ExpiryBasis>,
    default_feature_flags: Option<JsonObject>,
    lease_ttl_seconds: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GeneratorPatchBody {
    name: Option<String>,
    default_activation_limit: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    default_validity_days: Option<Option<i64>>,
    expiry_basis: Option<ExpiryBasis>,
    default_feature_flags: Option<JsonObject>,
    lease_ttl_seconds: Option<i64>,
    product_id: Option<serde_json::Value>,
    format: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GeneratorQuery {
    product: Option<Uuid>,
    limit: Option<i64>,
    offset: Option<i64>,
}

async fn generators(
    caller: Caller,
    q: web::Query<GeneratorQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::Read)?;
    let (page, product) = (page(q.limit, q.offset)?, q.product);
    Ok(list(
        run(&caller, move |s, _, _| s.generators(product, page)).await?,
    ))
}

async fn create_generator(
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

async fn generator(
    caller: Caller,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::Read)?;
    let id = path.1;
    Ok(HttpResponse::Ok().json(run(&caller, move |s, _, _| s.generator(id)).await?))
}

async fn update_generator(
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

async fn delete_generator(
    caller: Caller,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::ManageCatalog)?;
    let id = path.1;
    run(&caller, move |s, a, now| s.delete_generator(a, now, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

// ---- customers ------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomerBody {
    name: String,
    email: String,
    metadata: Option<JsonObject>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomerPatchBody {
    name: Option<String>,
    email: Option<String>,
    metadata: Option<JsonObject>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomerQuery {
    q: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

async fn customers(caller: Caller, q: web::Query<CustomerQuery>) -> Result<HttpResponse, ApiError> {
    caller.require(P::Read)?;
    let page = page(q.limit, q.offset)?;
    let text = q.q.clone();
    Ok(list(
        run(&caller, move |s, _, _| s.customers(text.as_deref(), page)).await?,
    ))
}

async fn create_customer(
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

async fn customer(
    caller: Caller,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::Read)?;
    let id = path.1;
    Ok(HttpResponse::Ok().json(run(&caller, move |s, _, _| s.customer(id)).await?))
}

async fn update_customer(
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

async fn delete_customer(
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LicenseBody {
    product_id: Uuid,
    generator_id: Uuid,
    customer_id: Option<Uuid>,
    activation_limit: Option<i64>,
    expires_at: Option<String>,
    feature_flags: Option<JsonObject>,
    metadata: Option<JsonObject>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LicensePatchBody {
    #[serde(default, deserialize_with = "present")]
    customer_id: Option<Option<Uuid>>,
    activation_limit: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    expires_at: Option<Option<String>>,
    feature_flags: Option<JsonObject>,
    metadata: Option<JsonObject>,
    key: Option<serde_json::Value>,
    product_id: Option<serde_json::Value>,
    generator_id: Option<serde_json::Value>,
    environment: Option<serde_json::Value>,
}

async fn licenses(caller: Caller, q: web::Query<LicenseQuery>) -> Result<HttpResponse, ApiError> {
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

async fn create_license(
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

async fn license(
    caller: Caller,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::Read)?;
    let id = path.1;
    Ok(HttpResponse::Ok().json(run(&caller, move |s, _, _| s.license(id)).await?))
}

async fn update_license(
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignBody {
    customer_id: Uuid,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuspendBody {
    reason: String,
}

async fn act(caller: &Caller, id: Uuid, action: LicenseAction) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(run(caller, move |s, a, now| s.act(a, now, id, action)).await?))
}

async fn assign(
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

async fn suspend(
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

async fn unsuspend(
    caller: Caller,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::ManageLicenses)?;
    act(&caller, path.1, LicenseAction::Unsuspend).await
}

async fn inactivate(
    caller: Caller,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::Pause)?;
    act(&caller, path.1, LicenseAction::Inactivate).await
}

async fn reactivate(
    caller: Caller,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::Pause)?;
    act(&caller, path.1, LicenseAction::Reactivate).await
}

async fn revoke(caller: Caller, path: web::Path<(String, Uuid)>) -> Result<HttpResponse, ApiError> {
    caller.require(P::ManageLicenses)?;
    act(&caller, path.1, LicenseAction::Revoke).await
}

async fn remint(caller: Caller, path: web::Path<(String, Uuid)>) -> Result<HttpResponse, ApiError> {
    caller.require(P::ManageLicenses)?;
    let id = path.1;
    Ok(with_key(
        run(&caller, move |s, a, now| s.remint(a, now, id)).await?,
    ))
}

async fn reveal(caller: Caller, path: web::Path<(String, Uuid)>) -> Result<HttpResponse, ApiError> {
    caller.require(P::Reveal)?;
    let id = path.1;
    let key = run(&caller, move |s, a, now| s.reveal(a, now, id)).await?;
    Ok(HttpResponse::Ok().json(json!({ "key": key.expose() })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteQuery {
    force: Option<bool>,
}

async fn delete_license(
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

async fn license_activations(
    caller: Caller,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::Read)?;
    let id = path.1;
    let items = run(&caller, move |s, _, _| s.license_activations(id)).await?;
    let total = items.len() as i64;
    Ok(list((items, total)))
}

async fn deactivate_activation(
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    name: String,
    role: Role,
}

async fn tokens(caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require(P::Administer)?;
    let items = run(&caller, |s, _, _| s.tokens()).await?;
    let total = items.len() as i64;
    Ok(list((items, total)))
}

async fn create_token(caller: Caller, body: ApiJson<TokenBody>) -> Result<HttpResponse, ApiError> {
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

async fn delete_token(
    caller: Caller,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::Administer)?;
    let id = path.1;
    run(&caller, move |s, a, now| s.delete_token(a, now, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn settings(caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require(P::Read)?;
    Ok(HttpResponse::Ok().json(run(&caller, |s, _, _| s.settings()).await?))
}

async fn put_settings(caller: Caller, body: ApiJson<Settings>) -> Result<HttpResponse, ApiError> {
    caller.require(P::Administer)?;
    let new = body.0;
    let saved = run(&caller, move |s, a, now| s.put_settings(a, now, &new)).await?;
    caller.env.invalidate();
    Ok(HttpResponse::Ok().json(saved))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    target_id: Option<String>,
    action: Option<String>,
    actor: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

async fn audit(caller: Caller, q: web::Query<AuditQuery>) -> Result<HttpResponse, ApiError> {
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
struct EventQuery {
    #[serde(rename = "type")]
    event_type: Option<String>,
    license_id: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

async fn events(caller: Caller, q: web::Query<EventQuery>) -> Result<HttpResponse, ApiError> {
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

async fn jobs(caller: Caller, q: web::Query<PageQuery>) -> Result<HttpResponse, ApiError> {
    caller.require(P::Read)?;
    let page = page(q.limit, q.offset)?;
    Ok(list(run(&caller, move |s, _, _| s.jobs(page)).await?))
}

async fn job(caller: Caller, path: web::Path<(String, Uuid)>) -> Result<HttpResponse, ApiError> {
    caller.require(P::Read)?;
    let id = path.1;
    Ok(HttpResponse::Ok().json(run(&caller, move |s, _, _| s.job(id)).await?))
}

// ---- stats, preview, webhooks ----------------------------------------------------------------

async fn stats(caller: Caller) -> Result<HttpResponse, ApiError> {
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
async fn preview(
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
        Ok((view, activations, lease))
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
        "offline_file": {"format": "keysmith.license-file.v1", "license": public, "lease": lease},
        "code_samples": samples(&state.public_validation_url, caller.env.name(), &l.key_display),
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookBody {
    url: String,
    events: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookPatchBody {
    url: Option<String>,
    events: Option<Vec<String>>,
    enabled: Option<bool>,
}

async fn webhooks(caller: Caller, q: web::Query<PageQuery>) -> Result<HttpResponse, ApiError> {
    caller.require(P::Administer)?;
    let page = page(q.limit, q.offset)?;
    Ok(list(run(&caller, move |s, _, _| s.webhooks(page)).await?))
}

async fn create_webhook(
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

async fn update_webhook(
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

async fn delete_webhook(
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
            .route("/webhooks/{id}", web::patch().to(update_webhook))
            .route("/webhooks/{id}", web::delete().to(delete_webhook)),
    );
}
