//! Keysmith's HTTP layer: configuration, the actix-web apps of the validation service and the
//! admin service, the background workers, error mapping, rate limits, request ids, logs and
//! metrics.
//!
//! Apps are built by functions ([`validation_app`], [`admin_app`]) so tests run them in-process
//! with `actix_web::test`; the binaries only read [`config::Config`] and call [`startup`]. No SQL
//! here: every database call goes through `license-store`, on the blocking thread pool
//! (`web::block`) — except validate's one read on SQLite, which runs on the async worker when it
//! cannot wait (`validate_work`).

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, HttpServer, middleware, web};

pub mod abuse;
pub mod admin;
pub mod auth;
pub mod config;
pub mod config_error;
pub mod console;
pub mod credentials;
pub mod document;
pub mod egress;
pub mod environments;
pub mod error;
pub mod extract;
pub mod key_search;
pub mod mailer;
pub mod master;
pub mod net;
pub mod openapi;
pub mod ops;
pub mod portal;
pub mod public;
pub mod ratelimit;
pub mod respond;
pub mod schema;
#[cfg(feature = "testkit")]
pub mod smtp_sink;
pub mod startup;
pub mod telemetry;
pub mod throttle;
mod validate_work;
pub mod validation;
pub mod workers;

pub use environments::Environments;
pub use openapi::{admin_openapi, validation_openapi};

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
    /// Operators and their sessions (admin service only).
    pub operators: Option<Operators>,
    /// The time (tests move it; the services read the system clock).
    pub clock: Clock,
    /// Exact-key searches per operator or token (admin service).
    pub key_searches: key_search::KeySearchThrottle,
}

/// Where the time comes from.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> time::OffsetDateTime + Send + Sync>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self(Arc::new(time::OffsetDateTime::now_utc))
    }

    /// A clock that reads `f` (tests).
    pub fn from_fn(f: impl Fn() -> time::OffsetDateTime + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    /// Now.
    pub fn now(&self) -> time::OffsetDateTime {
        (self.0)()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

/// The admin service's operator side (SPEC §11): the control database, login throttling, and
/// what sign-in links and cookies need.
#[derive(Debug)]
pub struct Operators {
    /// The control database.
    pub control: license_store::control::ControlStore,
    /// Failed sign-ins per IP and email.
    pub throttle: throttle::LoginThrottle,
    /// Base URL of the admin service, for setup and invitation links.
    pub public_admin_url: String,
    /// A hash of no one's password, checked for unknown emails (equal time).
    pub dummy_hash: String,
}

impl Operators {
    /// Sets up the operator side over `control`.
    pub fn new(
        control: license_store::control::ControlStore,
        public_admin_url: &str,
    ) -> Result<Self, error::ApiError> {
        Ok(Self {
            control,
            throttle: throttle::LoginThrottle::default(),
            public_admin_url: public_admin_url.trim_end_matches('/').to_owned(),
            dummy_hash: credentials::dummy_hash()?,
        })
    }

    /// Whether session cookies carry `Secure` (the admin URL is https).
    pub fn secure_cookies(&self) -> bool {
        self.public_admin_url.starts_with("https://")
    }
}

/// Everything an app instance shares across workers.
#[derive(Debug, Clone)]
pub struct Shared {
    state: web::Data<AppState>,
    metrics: web::Data<telemetry::Metrics>,
    openapi: web::Data<document::OpenApiJson>,
    webhooks: web::Data<egress::WebhookPolicy>,
    clients: web::Data<net::ClientIps>,
    portal: web::Data<portal::PortalSite>,
}

impl Shared {
    /// Shared data for the validation service.
    pub fn validation(envs: Environments, rates: config::RateLimits) -> Self {
        Self::validation_at(envs, rates, Clock::system())
    }

    /// The same, reading the time from `clock` (tests move it: portal links and sessions age).
    pub fn validation_at(envs: Environments, rates: config::RateLimits, clock: Clock) -> Self {
        Self {
            state: web::Data::new(AppState {
                envs,
                limiter: ratelimit::Limiter::new(rates),
                public_validation_url: String::new(),
                abuse: abuse::AbuseDetector::default(),
                operators: None,
                clock,
                key_searches: key_search::KeySearchThrottle::default(),
            }),
            metrics: web::Data::new(telemetry::Metrics::default()),
            openapi: web::Data::new(document::OpenApiJson::new(validation_openapi())),
            webhooks: web::Data::new(egress::WebhookPolicy::public_only()),
            clients: web::Data::new(net::ClientIps::default()),
            portal: web::Data::new(portal::PortalSite::default()),
        }
    }

    /// Shared data for the admin service (no rate limits: every call is authenticated).
    pub fn admin(
        envs: Environments,
        operators: Operators,
        public_validation_url: &str,
        clock: Clock,
    ) -> Self {
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
                operators: Some(operators),
                clock,
                key_searches: key_search::KeySearchThrottle::default(),
            }),
            metrics: web::Data::new(telemetry::Metrics::default()),
            openapi: web::Data::new(document::OpenApiJson::new(admin_openapi())),
            webhooks: web::Data::new(egress::WebhookPolicy::public_only()),
            clients: web::Data::new(net::ClientIps::default()),
            portal: web::Data::new(portal::PortalSite::default()),
        }
    }

    /// The same, with the webhook address policy of `KEYSMITH_WEBHOOK_ALLOW_PRIVATE` (public
    /// addresses only by default): what endpoint URLs the admin API accepts.
    pub fn with_webhook_policy(mut self, policy: egress::WebhookPolicy) -> Self {
        self.webhooks = web::Data::new(policy);
        self
    }

    /// The same, recording into `metrics` (one set shared by the services of a process, served
    /// on the admin listener and on `KEYSMITH_METRICS_ADDR`).
    pub fn with_metrics(mut self, metrics: web::Data<telemetry::Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// The metrics this service records.
    pub fn metrics(&self) -> web::Data<telemetry::Metrics> {
        self.metrics.clone()
    }

    /// Believes the forwarding headers of these proxies (`KEYSMITH_TRUSTED_PROXIES`); by
    /// default the client is the TCP peer.
    pub fn with_client_ips(mut self, ips: net::ClientIps) -> Self {
        self.clients = web::Data::new(ips);
        self
    }

    /// Serves the customer portal (or not: `KEYSMITH_PORTAL=off`) at this public address of the
    /// validation service (its sign-in links point there).
    pub fn with_portal(mut self, site: portal::PortalSite) -> Self {
        self.portal = web::Data::new(site);
        self
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
    let portal = shared.portal.enabled;
    // The hot routes first: the router tries routes in this order.
    App::new()
        .configure(|cfg| common(shared, cfg))
        .configure(validation::routes)
        .configure(ops::routes)
        .configure(|cfg| {
            if portal {
                portal::routes(cfg);
            }
        })
        .default_service(web::to(ops::not_found))
        .wrap(middleware::from_fn(telemetry::observe))
}

/// What both apps share: state, metrics, OpenAPI document, body limit and extractor errors.
fn common(shared: Shared, cfg: &mut web::ServiceConfig) {
    cfg.app_data(shared.state)
        .app_data(shared.metrics)
        .app_data(shared.openapi)
        .app_data(shared.webhooks)
        .app_data(shared.clients)
        .app_data(shared.portal)
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
        .configure(console::routes)
        .configure(admin::routes)
        .configure(ops::routes)
        .configure(ops::metrics_route)
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

/// Binds and starts the metrics listener of `KEYSMITH_METRICS_ADDR`: `/metrics` (the
/// process's services' request metrics) and `/healthz`, nothing else.
pub fn serve_metrics(
    metrics: web::Data<telemetry::Metrics>,
    addr: SocketAddr,
) -> std::io::Result<Server> {
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(metrics.clone())
            .route("/healthz", web::get().to(ops::healthz))
            .configure(ops::metrics_route)
            .default_service(web::to(ops::not_found))
    })
    .workers(1)
    .bind(addr)?
    .shutdown_timeout(5)
    .run())
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
