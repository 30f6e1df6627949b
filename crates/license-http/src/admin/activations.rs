//! Activations: a license's activation history and deactivating one instance (frees a slot).

use actix_web::web::{self, Json};
use license_store::model::Activation;

use super::query::IdPath;
use super::run;
use crate::auth::{Caller, Permission as P};
use crate::error::ApiError;
use crate::respond::{Denied, List, NotFound};

#[utoipa::path(
    get,
    path = "/v1/{env}/licenses/{id}/activations",
    summary = "A license's activations, newest first",
    tag = "admin",
    params(IdPath),
    responses((status = 200, description = "OK", body = List<Activation>), NotFound, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn license_activations(
    caller: Caller,
    path: web::Path<IdPath>,
) -> Result<List<Activation>, ApiError> {
    caller.require(P::Read)?;
    let id = path.id;
    Ok(List::all(
        run(&caller, move |s, _, _| s.license_activations(id)).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/v1/{env}/activations/{id}/deactivate",
    summary = "Deactivate one activation",
    tag = "admin",
    params(IdPath),
    responses((status = 200, description = "OK", body = Activation), NotFound, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn deactivate_activation(
    caller: Caller,
    path: web::Path<IdPath>,
) -> Result<Json<Activation>, ApiError> {
    caller.require(P::DeactivateActivation)?;
    let id = path.id;
    Ok(Json(
        run(&caller, move |s, a, now| {
            s.deactivate_activation(a, now, id)
        })
        .await?,
    ))
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/licenses/{id}/activations",
        web::get().to(license_activations),
    )
    .route(
        "/activations/{id}/deactivate",
        web::post().to(deactivate_activation),
    );
}
