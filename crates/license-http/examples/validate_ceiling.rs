//! The HTTP ceiling of `POST /validate` on this machine (issue 15, `scripts/bench-validate`):
//! the validation service's middleware and JSON extractor, a `ValidateRequest` parsed and a
//! `VALID` answer of the real size written back, but no license looked up, no decision, no
//! store. Keysmith's validate can at best reach this rate; the gap between it and `/healthz` is
//! what HTTP, JSON and the request's size cost before any database is asked.
//!
//! Usage: `cargo run --release -p license-http --example validate_ceiling [addr]` (default
//! `127.0.0.1:18191`), then load `/healthz` and `/v1/<env>/validate` as the bench does.

use actix_web::{App, HttpResponse, HttpServer, middleware, web};
use license_http::extract::ApiJson;
use license_http::validation::ValidateRequest;
use license_http::{ops, telemetry};

/// A `VALID` answer as `keysmith serve` writes it for a demo license (342 bytes).
const ANSWER: &str = r#"{"valid":true,"code":"VALID","license":{"id":"01a24bed-14a0-73be-817b-21d386dfc539","key_display":"DEMO0158-····-41EY","product":{"id":"01a24bed-149c-775d-9f4b-e053780335ed","name":"Demo App","code":"DEMO0158"},"status":"assigned","activation_limit":3,"activations_active":0,"expires_at":"2027-12-06T15:15:58.236866Z","feature_flags":{}}}"#;

async fn validate(body: ApiJson<ValidateRequest>) -> HttpResponse {
    std::hint::black_box(&body.0);
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .content_type("application/json")
        .body(ANSWER)
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18191".to_owned());
    HttpServer::new(|| {
        App::new()
            .route("/v1/{env}/validate", web::post().to(validate))
            .route("/healthz", web::get().to(ops::healthz))
            .wrap(middleware::from_fn(telemetry::observe))
    })
    .bind(addr)?
    .run()
    .await
}
