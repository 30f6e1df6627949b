//! Operational routes: liveness, readiness and OpenAPI on both services; metrics on the admin
//! service and the metrics listener only.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::AppState;
use crate::document::OpenApiJson;
use crate::error::ApiError;
use crate::telemetry::Metrics;

/// Liveness: the process serves requests.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "Alive")))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Readiness: every environment's database answers. The body says ready or not and nothing
/// more (no environment names, no database detail): anyone who can reach the port may ask.
#[utoipa::path(
    get,
    path = "/readyz",
    responses((status = 200, description = "Every database reachable: `{\"status\":\"ready\"}`"), (status = 503, description = "A database is unreachable: `{\"status\":\"unavailable\"}`"))
)]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let envs = state.envs.clone();
    let ready = web::block(move || envs.iter().all(|e| e.store().ping().is_ok())).await?;
    Ok(if ready {
        HttpResponse::Ok().json(json!({"status": "ready"}))
    } else {
        HttpResponse::ServiceUnavailable().json(json!({"status": "unavailable"}))
    })
}

/// Prometheus metrics: request counts and latency histograms by route and outcome code.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(metrics: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(metrics.render())
}

/// The service's OpenAPI document.
pub async fn openapi(doc: web::Data<OpenApiJson>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(doc.json.clone())
}

/// Unknown routes answer in the same error shape as everything else: 405 with `Allow` for a
/// documented path asked with another method, else 404.
pub async fn not_found(
    req: actix_web::HttpRequest,
    doc: Option<web::Data<OpenApiJson>>,
) -> Result<HttpResponse, ApiError> {
    match doc.as_ref().and_then(|d| d.methods(req.path())) {
        Some(allow) if !allow.iter().any(|m| m == req.method().as_str()) => {
            Err(ApiError::MethodNotAllowed {
                method: req.method().to_string(),
                allow: allow.to_vec(),
            })
        }
        _ => Err(ApiError::NotFound("route".into())),
    }
}

/// `/healthz`, `/readyz`, `/openapi.json`: both services.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/openapi.json", web::get().to(openapi));
}

/// `/metrics`: the admin service and the `KEYSMITH_METRICS_ADDR` listener, never the public
/// validation service (route names and traffic are nobody else's business).
pub fn metrics_route(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(metrics));
}
