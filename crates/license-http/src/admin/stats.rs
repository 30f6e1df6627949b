//! Counts for the dashboard (`/stats`): by status and product, activation-limit totals.

use actix_web::web::{self, Json};
use license_store::licenses::Stats;

use super::run;
use crate::auth::{Caller, Permission as P};
use crate::error::ApiError;

#[utoipa::path(
    get,
    path = "/v1/{env}/stats",
    summary = "Counts by status and product, activation-limit totals",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name")),
    responses((status = 200, description = "OK"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn stats(caller: Caller) -> Result<Json<Stats>, ApiError> {
    caller.require(P::Read)?;
    Ok(Json(run(&caller, |s, _, _| s.stats()).await?))
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/stats", web::get().to(stats));
}
