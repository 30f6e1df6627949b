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
    for field in ["abuse", "mail_templates"] {
        if body.0.get(field).is_some_and(|a| !a.is_object()) {
            return Err(ApiError::InvalidRequest(format!(
                "{field}: must be an object"
            )));
        }
    }
    if let Some(serde_json::Value::Object(kinds)) = body.0.get("mail_templates")
        && let Some((kind, _)) = kinds.iter().find(|(_, t)| !t.is_object() && !t.is_null())
    {
        return Err(ApiError::InvalidRequest(format!(
            "mail_templates.{kind}: must be an object (subject, text, html) or null"
        )));
    }
    let new: Settings = crate::extract::from_value(body.0)?;
    let saved = run(&caller, move |s, a, now| s.put_settings(a, now, &new)).await?;
    caller.env.invalidate();
    Ok(Json(saved))
}

/// The settings body's limit: six email templates of up to 8,192 characters a part fit.
pub(crate) const SETTINGS_BODY: usize = 1024 * 1024;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/settings")
            .app_data(web::PayloadConfig::new(SETTINGS_BODY))
            .route(web::get().to(settings))
            .route(web::put().to(put_settings))
            // Another method gets the API's 405 (with `Allow`), not the resource's bare one.
            .default_service(web::to(crate::ops::not_found)),
    );
}
