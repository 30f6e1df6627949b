//! Operational routes shared by both services: liveness, readiness, metrics, OpenAPI.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::AppState;
use crate::error::ApiError;
use crate::telemetry::Metrics;

/// Liveness: the process serves requests.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "Alive")))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Readiness: every environment's database answers.
#[utoipa::path(
    get,
    path = "/readyz",
    responses((status = 200, description = "Every database reachable"), (status = 503, description = "A database is unreachable"))
)]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let envs = state.envs.clone();
    let report = web::block(move || {
        envs.iter()
            .map(|e| (e.name().to_owned(), e.store().ping().is_ok()))
            .collect::<Vec<_>>()
    })
    .await?;
    let ready = report.iter().all(|(_, ok)| *ok);
    let detail: serde_json::Map<String, serde_json::Value> = report
        .into_iter()
        .map(|(n, ok)| (n, json!(if ok { "ok" } else { "unreachable" })))
        .collect();
    let body =
        json!({"status": if ready { "ready" } else { "unavailable" }, "environments": detail});
    Ok(if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    })
}

/// Prometheus metrics: request counts and latency histograms by route and outcome code.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(metrics: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(metrics.render())
}

/// The service's OpenAPI document (from `web::Data<serde_json::Value>`).
pub async fn openapi(doc: web::Data<OpenApiJson>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(doc.0.clone())
}

/// A rendered OpenAPI document.
#[derive(Debug, Clone)]
pub struct OpenApiJson(pub String);

/// Unknown routes answer in the same error shape as everything else.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound("route".into()))
}

/// `/healthz`, `/readyz`, `/metrics`, `/openapi.json`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics))
        .route("/openapi.json", web::get().to(openapi));
}
