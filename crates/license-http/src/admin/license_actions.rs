//! License lifecycle actions (`POST /licenses/{id}/<action>`, SPEC §4): assign, suspend,
//! unsuspend, inactivate, reactivate, revoke, remint (a new license and key) and reveal (the key
//! read back, audited). A forbidden transition is 409 `INVALID_TRANSITION`.

use actix_web::web::{self, Json};
use license_store::licenses::LicenseAction;
use license_store::model::LicenseView;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::query::IdPath;
use super::run;
use crate::auth::{Caller, Permission as P};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::respond::{Conflict, CreatedWithSecret, Denied, NoStore, NotFound};

/// A license's full key, read back by `reveal`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RevealedKey {
    key: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AssignBody {
    customer_id: Uuid,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SuspendBody {
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = r"^(?=[\s\S]*\S)[^\x00-\x1F\x7F-\x9F]+$"
    )]
    reason: String,
}

pub(crate) async fn act(
    caller: &Caller,
    id: Uuid,
    action: LicenseAction,
) -> Result<Json<LicenseView>, ApiError> {
    Ok(Json(
        run(caller, move |s, a, now| s.act(a, now, id, action)).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/v1/{env}/licenses/{id}/assign",
    summary = "Assign to a customer",
    tag = "admin",
    params(IdPath),
    request_body = AssignBody,
    responses((status = 200, description = "OK", body = LicenseView), NotFound, Conflict, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn assign(
    caller: Caller,
    path: web::Path<IdPath>,
    body: ApiJson<AssignBody>,
) -> Result<Json<LicenseView>, ApiError> {
    caller.require(P::Assign)?;
    act(
        &caller,
        path.id,
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
    params(IdPath),
    request_body = SuspendBody,
    responses((status = 200, description = "OK", body = LicenseView), NotFound, Conflict, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn suspend(
    caller: Caller,
    path: web::Path<IdPath>,
    body: ApiJson<SuspendBody>,
) -> Result<Json<LicenseView>, ApiError> {
    caller.require(P::ManageLicenses)?;
    act(
        &caller,
        path.id,
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
    params(IdPath),
    responses((status = 200, description = "OK", body = LicenseView), NotFound, Conflict, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn unsuspend(
    caller: Caller,
    path: web::Path<IdPath>,
) -> Result<Json<LicenseView>, ApiError> {
    caller.require(P::ManageLicenses)?;
    act(&caller, path.id, LicenseAction::Unsuspend).await
}

#[utoipa::path(
    post,
    path = "/v1/{env}/licenses/{id}/inactivate",
    summary = "Pause an active license",
    tag = "admin",
    params(IdPath),
    responses((status = 200, description = "OK", body = LicenseView), NotFound, Conflict, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn inactivate(
    caller: Caller,
    path: web::Path<IdPath>,
) -> Result<Json<LicenseView>, ApiError> {
    caller.require(P::Pause)?;
    act(&caller, path.id, LicenseAction::Inactivate).await
}

#[utoipa::path(
    post,
    path = "/v1/{env}/licenses/{id}/reactivate",
    summary = "Resume an inactive license",
    tag = "admin",
    params(IdPath),
    responses((status = 200, description = "OK", body = LicenseView), NotFound, Conflict, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn reactivate(
    caller: Caller,
    path: web::Path<IdPath>,
) -> Result<Json<LicenseView>, ApiError> {
    caller.require(P::Pause)?;
    act(&caller, path.id, LicenseAction::Reactivate).await
}

#[utoipa::path(
    post,
    path = "/v1/{env}/licenses/{id}/revoke",
    summary = "Revoke (deactivates every activation)",
    tag = "admin",
    params(IdPath),
    responses((status = 200, description = "OK", body = LicenseView), NotFound, Conflict, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn revoke(
    caller: Caller,
    path: web::Path<IdPath>,
) -> Result<Json<LicenseView>, ApiError> {
    caller.require(P::ManageLicenses)?;
    act(&caller, path.id, LicenseAction::Revoke).await
}

#[utoipa::path(
    post,
    path = "/v1/{env}/licenses/{id}/remint",
    summary = "Replace with a new license and key; the response holds the new key",
    tag = "admin",
    params(IdPath),
    responses((status = 201, description = "Created: the new license plus `key`, its full key, shown this once", body = LicenseView), NotFound, Conflict, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn remint(
    caller: Caller,
    path: web::Path<IdPath>,
) -> Result<CreatedWithSecret<LicenseView>, ApiError> {
    caller.require(P::ManageLicenses)?;
    let id = path.id;
    Ok(run(&caller, move |s, a, now| s.remint(a, now, id))
        .await?
        .into())
}

#[utoipa::path(
    post,
    path = "/v1/{env}/licenses/{id}/reveal",
    summary = "Read the full key back (audited)",
    tag = "admin",
    params(IdPath),
    responses((status = 200, description = "OK", body = RevealedKey), NotFound, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn reveal(
    caller: Caller,
    path: web::Path<IdPath>,
    state: web::Data<crate::AppState>,
) -> Result<NoStore<RevealedKey>, ApiError> {
    caller.require(P::Reveal)?;
    caller.require_recent_password(state.clock.now()).await?;
    let id = path.id;
    let key = run(&caller, move |s, a, now| s.reveal(a, now, id)).await?;
    Ok(NoStore(RevealedKey {
        key: key.expose().to_owned(),
    }))
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/licenses/{id}/assign", web::post().to(assign))
        .route("/licenses/{id}/suspend", web::post().to(suspend))
        .route("/licenses/{id}/unsuspend", web::post().to(unsuspend))
        .route("/licenses/{id}/inactivate", web::post().to(inactivate))
        .route("/licenses/{id}/reactivate", web::post().to(reactivate))
        .route("/licenses/{id}/revoke", web::post().to(revoke))
        .route("/licenses/{id}/remint", web::post().to(remint))
        .route("/licenses/{id}/reveal", web::post().to(reveal));
}
