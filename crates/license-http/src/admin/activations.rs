//! Activations: every activation of the environment with filters, a license's activation
//! history, and deactivating one instance (frees a slot).

use actix_web::web::{self, Json};
use license_store::activations::{
    ActivationCursor, ActivationFilter, ActivationPage, ActivationView,
};
use license_store::model::{Activation, ActivationStatus};
use serde::Deserialize;

use super::query::{EnvPath, IdPath, bad, page, parse_uuid};
use super::run;
use crate::auth::{Caller, Permission as P};
use crate::error::ApiError;
use crate::respond::{BadRequest, Denied, List, NotFound};

/// The longest fingerprint a filter may carry (activation fingerprints are shorter).
const MAX_FINGERPRINT: usize = 256;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ActivationQuery {
    license_id: Option<String>,
    fingerprint: Option<String>,
    status: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/v1/{env}/activations",
    summary = "Activations across licenses, newest first; filters license_id, fingerprint (exact), status (active|deactivated)",
    tag = "admin",
    params(EnvPath),
    responses((status = 200, description = "OK", body = List<ActivationView>), BadRequest, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn activations(
    caller: Caller,
    q: web::Query<ActivationQuery>,
) -> Result<List<ActivationView>, ApiError> {
    caller.require(P::Read)?;
    let q = q.into_inner();
    let fingerprint = q.fingerprint.filter(|f| !f.is_empty());
    if fingerprint
        .as_ref()
        .is_some_and(|f| f.len() > MAX_FINGERPRINT)
    {
        return Err(bad("fingerprint", "must be at most 256 characters"));
    }
    let filter = ActivationFilter {
        license: match q.license_id.as_deref().filter(|s| !s.is_empty()) {
            Some(id) => Some(parse_uuid("license_id", id)?),
            None => None,
        },
        fingerprint,
        status: match q.status.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some("active") => Some(ActivationStatus::Active),
            Some("deactivated") => Some(ActivationStatus::Deactivated),
            Some(_) => return Err(bad("status", "must be active or deactivated")),
        },
    };
    let page = page(q.limit, q.offset)?;
    Ok(List::new(
        run(&caller, move |s, _, _| s.activations(&filter, page)).await?,
    ))
}

/// `GET /licenses/{id}/activations` query: a page of the history.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct HistoryQuery {
    /// Activations per page, 1..=500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page (`<microseconds>_<activation id>`).
    #[param(
        pattern = r"^-?[0-9]{1,17}_[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )]
    cursor: Option<String>,
}

/// The history page `q` asks for: (limit, cursor); errors name the field.
pub(crate) fn history_page(
    limit: Option<i64>,
    cursor: Option<&str>,
) -> Result<(i64, Option<ActivationCursor>), ApiError> {
    let limit = limit.unwrap_or(DEFAULT_HISTORY_PAGE);
    if !(1..=license_store::Page::MAX_LIMIT).contains(&limit) {
        return Err(bad("limit", &format!("must be 1..=500, got {limit}")));
    }
    let cursor = match cursor.filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(ActivationCursor::parse(c).ok_or_else(|| {
            bad(
                "cursor",
                "is not a cursor this API gave out (pass next_cursor back as it is)",
            )
        })?),
    };
    Ok((limit, cursor))
}

/// Activations per history page unless asked otherwise.
pub(crate) const DEFAULT_HISTORY_PAGE: i64 = 50;

#[utoipa::path(
    get,
    path = "/v1/{env}/licenses/{id}/activations",
    summary = "A license's activations, newest first, a page at a time (limit ≤ 500, default 50; cursor = the previous page's next_cursor)",
    tag = "admin",
    params(IdPath, HistoryQuery),
    responses((status = 200, description = "OK", body = ActivationPage), BadRequest, NotFound, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn license_activations(
    caller: Caller,
    path: web::Path<IdPath>,
    q: web::Query<HistoryQuery>,
) -> Result<Json<ActivationPage>, ApiError> {
    caller.require(P::Read)?;
    let id = path.id;
    let (limit, cursor) = history_page(q.limit, q.cursor.as_deref())?;
    Ok(Json(
        run(&caller, move |s, _, _| {
            s.license_activations(id, limit, cursor)
        })
        .await?,
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
    cfg.route("/activations", web::get().to(activations))
        .route(
            "/licenses/{id}/activations",
            web::get().to(license_activations),
        )
        .route(
            "/activations/{id}/deactivate",
            web::post().to(deactivate_activation),
        );
}
