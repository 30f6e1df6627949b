//! Counts for the dashboard (`/stats`): by status and product, activation-limit totals.

use actix_web::web::{self, Json};
use license_store::stats::Stats;

use super::query::EnvPath;
use super::run;
use crate::auth::{Caller, Permission as P};
use crate::error::ApiError;
use crate::respond::Denied;

#[utoipa::path(
    get,
    path = "/v1/{env}/stats",
    summary = "Counts by status and product, activation-limit totals",
    tag = "admin",
    params(EnvPath),
    responses((status = 200, description = "OK", body = Stats), Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn stats(caller: Caller) -> Result<Json<Stats>, ApiError> {
    caller.require(P::Read)?;
    Ok(Json(run(&caller, |s, _, _| s.stats()).await?))
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/stats", web::get().to(stats));
}
