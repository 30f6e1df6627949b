//! The audit log (`/audit`) and the outbox of lifecycle events (`/events`), newest first.

use actix_web::web;
use license_store::audit::{AuditFilter, EventFilter};
use license_store::model::{AuditEntry, Event};
use serde::Deserialize;

use super::query::EnvPath;
use super::query::{page, parse_opt_time};
use super::run;
use crate::auth::{Caller, Permission as P};
use crate::error::ApiError;
use crate::respond::{BadRequest, Denied, List};

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
    params(EnvPath),
    responses((status = 200, description = "OK", body = List<AuditEntry>), BadRequest, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn audit(
    caller: Caller,
    q: web::Query<AuditQuery>,
) -> Result<List<AuditEntry>, ApiError> {
    caller.require(P::Read)?;
    let q = q.into_inner();
    let filter = AuditFilter {
        target_id: q.target_id,
        action: q.action,
        actor: q.actor,
        since: parse_opt_time("since", q.since.as_deref())?,
        until: parse_opt_time("until", q.until.as_deref())?,
    };
    let page = page(q.limit, q.offset)?;
    Ok(List::new(
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
    params(EnvPath),
    responses((status = 200, description = "OK", body = List<Event>), Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn events(
    caller: Caller,
    q: web::Query<EventQuery>,
) -> Result<List<Event>, ApiError> {
    caller.require(P::Read)?;
    let q = q.into_inner();
    let filter = EventFilter {
        event_type: q.event_type,
        license_id: q.license_id,
    };
    let page = page(q.limit, q.offset)?;
    Ok(List::new(
        run(&caller, move |s, _, _| s.events(&filter, page)).await?,
    ))
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/audit", web::get().to(audit))
        .route("/events", web::get().to(events));
}
