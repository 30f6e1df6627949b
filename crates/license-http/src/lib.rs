//! Keysmith's HTTP layer: configuration, the actix-web apps of the validation service (and, as
//! it is built, the admin service), error mapping, rate limits, request ids, logs and metrics.
//!
//! Apps are built by functions ([`validation_app`]) so tests run them in-process with
//! `actix_web::test`; the binaries only read [`config::Config`], open the environments and call
//! [`serve_validation`]. No SQL here: every database call goes through `license-store`, on the
//! blocking thread pool (`web::block`).

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, HttpServer, middleware, web};
use utoipa::OpenApi;

pub mod abuse;
pub mod admin;
pub mod auth;
pub mod bulk;
pub mod config;
pub mod env;
pub mod error;
pub mod extract;
pub mod master;
pub mod ops;
pub mod ratelimit;
pub mod startup;
pub mod telemetry;
pub mod validation;
pub mod webhooks;
pub mod worker;

pub use env::Environments;

/// Blocking (database) threads per HTTP worker.
pub const BLOCKING_THREADS_PER_WORKER: usize = 4;

/// Largest accepted request body (SPEC §7: larger is 413).
pub const MAX_BODY: usize = 16 * 1024;

/// Shared state of a service.
#[derive(Debug)]
pub struct AppState {
    /// The environments served.
    pub envs: Environments,
    /// Validation rate limits.
    pub limiter: ratelimit::Limiter,
    /// Base URL of this deployment's validation API, for code samples.
    pub public_validation_url: String,
    /// Abuse counters (validation service).
    pub abuse: abuse::AbuseDetector,
}

/// The OpenAPI document of the validation service.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Keysmith validation API",
        description = "The public API customer software calls to validate, activate and deactivate license keys, and to fetch lease verification keys."
    ),
    paths(
        validation::validate,
        validation::activate,
        validation::deactivate,
        validation::keys,
        ops::healthz,
        ops::readyz,
        ops::metrics,
    )
)]
#[derive(Debug)]
pub struct ValidationApi;

/// The OpenAPI document of the admin service.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "Keysmith admin API", description = "The operators' REST API over the whole license lifecycle. Every route needs `Authorization: Bearer <token>`; the token's role (admin, manager, support, viewer) decides what it may do. Errors are `{\"error\":{\"code\",\"message\",\"request_id\"}}`."),
    paths(
        admin::products,
        admin::create_product,
        admin::product,
        admin::update_product,
        admin::delete_product,
        admin::generators,
        admin::create_generator,
        admin::generator,
        admin::update_generator,
        admin::delete_generator,
        admin::customers,
        admin::create_customer,
        admin::customer,
        admin::update_customer,
        admin::delete_customer,
        admin::licenses,
        admin::create_license,
        admin::license,
        admin::update_license,
        admin::delete_license,
        admin::license_activations,
        admin::assign,
        admin::suspend,
        admin::unsuspend,
        admin::inactivate,
        admin::reactivate,
        admin::revoke,
        admin::remint,
        admin::reveal,
        admin::preview,
        admin::deactivate_activation,
        admin::tokens,
        admin::create_token,
        admin::delete_token,
        admin::settings,
        admin::put_settings,
        admin::audit,
        admin::events,
        admin::jobs,
        admin::job,
        admin::stats,
        admin::webhooks,
        admin::create_webhook,
        admin::webhook,
        admin::webhook_deliveries,
        admin::ping_webhook,
        admin::retry_delivery,
        admin::update_webhook,
        admin::delete_webhook,
        bulk::generate,
        bulk::job_keys,
        bulk::export_csv,
        bulk::export_json,
        bulk::import,
        ops::healthz,
        ops::readyz,
        ops::metrics,
    ),
    modifiers(&BearerAuth)
)]
pub struct AdminApi;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The admin service's OpenAPI document as pretty JSON (also in `docs/openapi/admin.json`).
pub fn admin_openapi() -> String {
    AdminApi::openapi().to_pretty_json().unwrap_or_default()
}

/// The validation service's OpenAPI document as pretty JSON (also in `docs/openapi/validation.json`).
pub fn validation_openapi() -> String {
    ValidationApi::openapi()
        .to_pretty_json()
        .unwrap_or_default()
}

/// Everything an app instance shares across workers.
#[derive(Debug, Clone)]
pub struct Shared {
    state: web::Data<AppState>,
    metrics: web::Data<telemetry::Metrics>,
    openapi: web::Data<ops::OpenApiJson>,
}

impl Shared {
    /// Shared data for the validation service.
    pub fn validation(envs: Environments, rates: config::RateLimits) -> Self {
        Self {
            state: web::Data::new(AppState {
                envs,
                limiter: ratelimit::Limiter::new(rates),
                public_validation_url: String::new(),
                abuse: abuse::AbuseDetector::default(),
            }),
            metrics: web::Data::new(telemetry::Metrics::default()),
            openapi: web::Data::new(ops::OpenApiJson(validation_openapi())),
        }
    }

    /// Shared data for the admin service (no rate limits: every call is authenticated).
    pub fn admin(envs: Environments, public_validation_url: &str) -> Self {
        let off = config::RateLimits {
            per_key: None,
            per_ip: None,
            unknown_per_ip: None,
        };
        Self {
            state: web::Data::new(AppState {
                envs,
                limiter: ratelimit::Limiter::new(off),
                public_validation_url: public_validation_url.trim_end_matches('/').to_owned(),
                abuse: abuse::AbuseDetector::default(),
            }),
            metrics: web::Data::new(telemetry::Metrics::default()),
            openapi: web::Data::new(ops::OpenApiJson(admin_openapi())),
        }
    }

    /// The state, for background tasks.
    pub fn state(&self) -> Arc<AppState> {
        self.state.clone().into_inner()
    }
}

/// The validation app (one per worker thread).
pub fn validation_app(
    shared: Shared,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .configure(|cfg| common(shared, cfg))
        .configure(validation::routes)
        .configure(ops::routes)
        .default_service(web::to(ops::not_found))
        .wrap(middleware::from_fn(telemetry::observe))
}

/// What both apps share: state, metrics, OpenAPI document, body limit and extractor errors.
fn common(shared: Shared, cfg: &mut web::ServiceConfig) {
    cfg.app_data(shared.state)
        .app_data(shared.metrics)
        .app_data(shared.openapi)
        .app_data(web::PayloadConfig::new(MAX_BODY))
        .app_data(web::QueryConfig::default().error_handler(error::query_error))
        .app_data(web::PathConfig::default().error_handler(error::path_error));
}

/// The admin app (one per worker thread), with CORS for `cors_origins` (a browser frontend).
pub fn admin_app(
    shared: Shared,
    cors_origins: Vec<String>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .configure(|cfg| common(shared, cfg))
        .configure(admin::routes)
        .configure(ops::routes)
        .default_service(web::to(ops::not_found))
        .wrap(middleware::from_fn(telemetry::observe))
        .wrap(cors(&cors_origins))
}

/// CORS for the admin API: the listed origins (or none), any method, the headers a frontend sends.
fn cors(origins: &[String]) -> actix_cors::Cors {
    let mut c = actix_cors::Cors::default()
        .allow_any_method()
        .allowed_headers(["authorization", "content-type", "x-request-id"])
        .expose_headers(["x-request-id", "retry-after", "content-disposition"])
        .max_age(3600);
    for o in origins {
        c = c.allowed_origin(o);
    }
    c
}

/// Binds and starts the admin service.
pub fn serve_admin(
    shared: Shared,
    addr: SocketAddr,
    cors_origins: Vec<String>,
) -> std::io::Result<Server> {
    Ok(
        HttpServer::new(move || admin_app(shared.clone(), cors_origins.clone()))
            .worker_max_blocking_threads(BLOCKING_THREADS_PER_WORKER)
            .bind(addr)?
            .shutdown_timeout(30)
            .run(),
    )
}

/// Binds and starts the validation service. SIGTERM/SIGINT drain in-flight requests.
pub fn serve_validation(shared: Shared, addr: SocketAddr) -> std::io::Result<Server> {
    let limiter_state = shared.state();
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(std::time::Duration::from_secs(60));
        loop {
            tick.tick().await;
            limiter_state.limiter.prune();
            limiter_state.abuse.prune(time::OffsetDateTime::now_utc());
        }
    });
    Ok(HttpServer::new(move || validation_app(shared.clone()))
        // Database work runs on each worker's blocking threads; a few per worker keep every
        // pooled connection busy without a crowd of threads switching on two cores.
        .worker_max_blocking_threads(BLOCKING_THREADS_PER_WORKER)
        .bind(addr)?
        .shutdown_timeout(30)
        .run())
}
