//! The environment's settings (`/settings`): grace period, offline-file TTL, audit retention,
//! abuse rules, reveal re-authentication.

use actix_web::web::{self, Json};
use license_store::settings::Settings;

use super::query::EnvPath;
use super::run;
use crate::auth::{Caller, Permission as P};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::respond::{Denied, Invalid};

#[utoipa::path(
    get,
    path = "/v1/{env}/settings",
    summary = "The environment's settings",
    tag = "admin",
    params(EnvPath),
    responses((status = 200, description = "OK", body = Settings), Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn settings(caller: Caller) -> Result<Json<Settings>, ApiError> {
    caller.require(P::Read)?;
    Ok(Json(run(&caller, |s, _, _| s.settings()).await?))
}

#[utoipa::path(
    put,
    path = "/v1/{env}/settings",
    summary = "Replace the settings",
    tag = "admin",
    params(EnvPath),
    request_body = Settings,
    responses((status = 200, description = "OK", body = Settings), Invalid, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn put_settings(
    caller: Caller,
    body: ApiJson<serde_json::Value>,
) -> Result<Json<Settings>, ApiError> {
    caller.require(P::Administer)?;
    // serde would also read `abuse` from an array of its fields in order; the API takes an
    // object (or nothing) there.
    if body.0.get("abuse").is_some_and(|a| !a.is_object()) {
        return Err(ApiError::InvalidRequest("abuse: must be an object".into()));
    }
    let new: Settings = crate::extract::from_value(body.0)?;
    let saved = run(&caller, move |s, a, now| s.put_settings(a, now, &new)).await?;
    caller.env.invalidate();
    Ok(Json(saved))
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/settings", web::get().to(settings))
        .route("/settings", web::put().to(put_settings));
}
