//! Licenses (`/licenses`): list and search, mint one (the response holds the key, once), read,
//! edit, delete. Lifecycle actions are in `license_actions`, exports in `export`.

use actix_web::web::{self, Json};
use license_store::StoreError;
use license_store::licenses::{LicensePatch, NewLicense};
use license_store::model::{JsonObject, LicenseView};
use serde::Deserialize;
use uuid::Uuid;

use super::query::{EnvPath, IdPath};
use super::query::{LicenseQuery, activation_limit_schema, parse_opt_time, present};
use super::run;
use crate::AppState;
use crate::auth::{Caller, Permission as P};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::respond::{
    BadRequest, Conflict, CreatedWithSecret, Denied, Invalid, List, NoContent, NotFound,
};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LicenseBody {
    product_id: Uuid,
    generator_id: Uuid,
    customer_id: Option<Uuid>,
    #[schema(schema_with = activation_limit_schema)]
    activation_limit: Option<i64>,
    /// RFC 3339, in the future, before the year 9000; omitted for a lifetime license.
    #[schema(format = DateTime)]
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
    #[schema(schema_with = activation_limit_schema)]
    activation_limit: Option<i64>,
    /// RFC 3339, in the future, before the year 9000; null makes it a lifetime license.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = DateTime)]
    expires_at: Option<Option<String>>,
    #[schema(value_type = Option<Object>)]
    feature_flags: Option<JsonObject>,
    #[schema(value_type = Option<Object>)]
    metadata: Option<JsonObject>,
    /// Immutable: sending it is 422 `IMMUTABLE_FIELD`.
    #[schema(ignore)]
    key: Option<serde_json::Value>,
    /// Immutable: sending it is 422 `IMMUTABLE_FIELD`.
    #[schema(ignore)]
    product_id: Option<serde_json::Value>,
    /// Immutable: sending it is 422 `IMMUTABLE_FIELD`.
    #[schema(ignore)]
    generator_id: Option<serde_json::Value>,
    /// Immutable: sending it is 422 `IMMUTABLE_FIELD`.
    #[schema(ignore)]
    environment: Option<serde_json::Value>,
}

#[utoipa::path(
    get,
    path = "/v1/{env}/licenses",
    summary = "List and search licenses",
    tag = "admin",
    params(EnvPath),
    responses((status = 200, description = "OK", body = List<LicenseView>), BadRequest, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn licenses(
    caller: Caller,
    state: web::Data<AppState>,
    q: web::Query<LicenseQuery>,
) -> Result<List<LicenseView>, ApiError> {
    caller.require(P::Read)?;
    let (filter, page) = q.filter()?;
    guard_key_search(&caller, &state, filter.q.as_deref()).await?;
    Ok(List::new(
        run(&caller, move |s, _, _| s.licenses(&filter, page)).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/v1/{env}/licenses",
    summary = "Mint a license; the response holds the full key, shown once",
    tag = "admin",
    params(EnvPath),
    request_body = LicenseBody,
    responses((status = 201, description = "Created: the license plus `key`, its full key, shown this once", body = LicenseView), Invalid, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn create_license(
    caller: Caller,
    body: ApiJson<LicenseBody>,
) -> Result<CreatedWithSecret<LicenseView>, ApiError> {
    caller.require(P::ManageLicenses)?;
    let b = body.0;
    let new = NewLicense {
        product_id: b.product_id,
        generator_id: b.generator_id,
        customer_id: b.customer_id,
        activation_limit: b.activation_limit,
        expires_at: parse_opt_time("expires_at", b.expires_at.as_deref())?,
        feature_flags: b.feature_flags,
        metadata: b.metadata,
    };
    Ok(run(&caller, move |s, a, now| s.create_license(a, now, new))
        .await?
        .into())
}

#[utoipa::path(
    get,
    path = "/v1/{env}/licenses/{id}",
    summary = "Get a license",
    tag = "admin",
    params(IdPath),
    responses((status = 200, description = "OK", body = LicenseView), NotFound, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn license(
    caller: Caller,
    path: web::Path<IdPath>,
) -> Result<Json<LicenseView>, ApiError> {
    caller.require(P::Read)?;
    let id = path.id;
    Ok(Json(run(&caller, move |s, _, _| s.license(id)).await?))
}

#[utoipa::path(
    patch,
    path = "/v1/{env}/licenses/{id}",
    summary = "Edit a license",
    tag = "admin",
    params(IdPath),
    request_body = LicensePatchBody,
    responses((status = 200, description = "OK", body = LicenseView), NotFound, Conflict, Invalid, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn update_license(
    caller: Caller,
    path: web::Path<IdPath>,
    body: ApiJson<LicensePatchBody>,
) -> Result<Json<LicenseView>, ApiError> {
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
            .map(|e| parse_opt_time("expires_at", e.as_deref()))
            .transpose()?,
        feature_flags: b.feature_flags,
        metadata: b.metadata,
    };
    let id = path.id;
    Ok(Json(
        run(&caller, move |s, a, now| {
            s.update_license(a, now, id, patch)
        })
        .await?,
    ))
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
    params(IdPath),
    responses((status = 204, description = "Deleted"), NotFound, Conflict, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn delete_license(
    caller: Caller,
    path: web::Path<IdPath>,
    q: web::Query<DeleteQuery>,
) -> Result<NoContent, ApiError> {
    caller.require(P::ManageLicenses)?;
    let (id, force) = (path.id, q.force.unwrap_or(false));
    run(&caller, move |s, a, now| {
        s.delete_license(a, now, id, force)
    })
    .await?;
    Ok(NoContent)
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/licenses", web::get().to(licenses))
        .route("/licenses", web::post().to(create_license))
        .route("/licenses/{id}", web::get().to(license))
        .route("/licenses/{id}", web::patch().to(update_license))
        .route("/licenses/{id}", web::delete().to(delete_license));
}

/// An exact-key search (SPEC §5: `q` could be a full key) is throttled per operator or token
/// and audited — without the key — before it runs.
pub(crate) async fn guard_key_search(
    caller: &Caller,
    state: &AppState,
    q: Option<&str>,
) -> Result<(), ApiError> {
    let Some(q) = q.filter(|q| license_core::keys::is_key_shaped(q)) else {
        return Ok(());
    };
    let who = format!("{}/{}", caller.env.name(), caller.actor.name);
    state
        .key_searches
        .admit(&who, state.clock.now())
        .map_err(|retry_after_secs| ApiError::RateLimited { retry_after_secs })?;
    let q = q.to_owned();
    run(caller, move |s, a, now| s.audit_key_search(a, now, &q)).await
}
