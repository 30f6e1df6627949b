//! Operational routes: liveness, readiness and OpenAPI on both services; metrics on the admin
//! service and the metrics listener only.

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

/// A rendered OpenAPI document, and its paths with their methods: the one list of what the
/// service answers, so a known path asked with another method is 405 with `Allow`.
#[derive(Debug, Clone)]
pub struct OpenApiJson {
    json: String,
    /// Path templates split in segments (`{x}` matches any one segment), with their methods.
    paths: Vec<(Vec<String>, Vec<String>)>,
}

impl OpenApiJson {
    /// Indexes a rendered document.
    pub fn new(json: String) -> Self {
        let doc: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
        let paths = doc["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(path, item)| {
                let segments = path.split('/').map(str::to_owned).collect();
                let mut methods: Vec<String> = item
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(m, _)| m.to_uppercase())
                    .collect();
                methods.sort();
                (segments, methods)
            })
            .collect();
        Self { json, paths }
    }

    /// The methods of a path the document names with no template in its last segment (e.g.
    /// `/v1/{env}/licenses/export.csv`), when `path` is one.
    pub fn exact_methods(&self, path: &str) -> Option<&[String]> {
        let parts: Vec<&str> = path.split('/').collect();
        self.paths
            .iter()
            .find(|(segments, _)| {
                segments.len() == parts.len()
                    && segments.last().is_some_and(|s| !s.starts_with('{'))
                    && segments
                        .iter()
                        .zip(&parts)
                        .all(|(s, p)| s == p || (s.starts_with('{') && !p.is_empty()))
            })
            .map(|(_, methods)| methods.as_slice())
    }

    /// The methods the document gives `path`, when it has that path (concrete segments win
    /// over templates: `/licenses/export.csv` over `/licenses/{id}`).
    pub fn methods(&self, path: &str) -> Option<&[String]> {
        let parts: Vec<&str> = path.split('/').collect();
        self.paths
            .iter()
            .filter(|(segments, _)| {
                segments.len() == parts.len()
                    && segments
                        .iter()
                        .zip(&parts)
                        .all(|(s, p)| s == p || (s.starts_with('{') && !p.is_empty()))
            })
            .min_by_key(|(segments, _)| segments.iter().filter(|s| s.starts_with('{')).count())
            .map(|(_, methods)| methods.as_slice())
    }
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
