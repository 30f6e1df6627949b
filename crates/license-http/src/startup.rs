//! What the binaries run: configuration and logging, the master key, every environment
//! (migrations, first signing key, bootstrap token, with a log line for each thing created),
//! then the servers and workers of `admin-api`, `validation-api` or `keysmith serve`.

use actix_web::dev::Server;
use time::OffsetDateTime;

use license_store::Actor;
use license_store::control::{ControlStore, LinkPurpose};

use crate::{Clock, Operators, Shared};

use crate::config::Config;
use crate::environments::Environments;
use crate::master;

/// Loads (or creates) the master key and opens every configured environment.
pub fn open_environments(config: &Config) -> Result<Environments, String> {
    master::private_dir(&config.data_dir)?;
    let (master, created) = master::load_or_create(&config.master_key_file)?;
    if created {
        tracing::info!(
            path = %config.master_key_file.display(),
            "created master key (32 random bytes, mode 0600); back it up: without it stored keys \
             cannot be revealed and signing keys cannot be opened"
        );
    }
    let (envs, report) = Environments::open(config, &master, OffsetDateTime::now_utc())?;
    for env in &report.signing_keys_created {
        tracing::info!(environment = %env, "created the environment's first lease signing key");
    }
    for env in &report.bootstrap_tokens {
        tracing::info!(environment = %env, "installed KEYSMITH_ADMIN_TOKEN as admin token 'bootstrap'");
    }
    for e in &config.environments {
        tracing::info!(
            environment = %e.name,
            database = %license_store::db::redact_url(&e.database_url),
            "environment ready"
        );
    }
    Ok(envs)
}

/// Opens the control database of operators and sessions (migrating it).
pub fn open_control(config: &Config) -> Result<ControlStore, String> {
    let (master, _) = master::load_or_create(&config.master_key_file)?;
    let control = ControlStore::open(&config.control_database_url, &master)
        .map_err(|e| format!("KEYSMITH_CONTROL_DATABASE_URL (control database): {e}"))?;
    tracing::info!(
        database = %license_store::db::redact_url(&config.control_database_url),
        "control database ready"
    );
    Ok(control)
}

/// While no operator exists, a fresh one-time setup link (valid 1 hour) for the first admin,
/// logged at start-up: `{public admin URL}/admin/setup#<secret>`.
fn offer_setup_link(config: &Config, control: &ControlStore) -> Result<(), String> {
    let fail = |e: license_store::StoreError| format!("control database: {e}");
    if control.operator_count().map_err(fail)? > 0 {
        return Ok(());
    }
    let secret = control
        .create_link(
            &Actor::system("startup"),
            OffsetDateTime::now_utc(),
            LinkPurpose::Setup,
            None,
            SETUP_LINK_TTL,
        )
        .map_err(fail)?;
    tracing::warn!(
        "no operator exists yet: open {}/admin/setup#{secret} within 1 hour to create the first \
         admin (or run `keysmith operator create --email you@example.com --role admin`)",
        config.public_admin_url
    );
    Ok(())
}

/// How long the first-operator setup link is valid.
pub const SETUP_LINK_TTL: time::Duration = time::Duration::hours(1);

/// Reads the configuration from the environment and starts logging.
pub fn load_config() -> Result<Config, String> {
    let config = Config::from_env().map_err(|e| e.to_string())?;
    crate::telemetry::init_logging(&config.log, config.log_format)?;
    Ok(config)
}

/// Caps glibc's malloc at two arenas for a server process. glibc gives every thread that meets
/// a locked arena one of its own, up to eight per core, and memory freed into one stays there:
/// under load the server's resident memory grew by tens of megabytes that were free but not
/// returned (88.7 MB against 61.8 MB with two arenas at 1,000,000 licenses, docs/benchmarks.md).
/// The cap can only be set before the process starts (or with `mallopt`, which needs `unsafe`),
/// so a server started without `MALLOC_ARENA_MAX` replaces itself, once, with the same program,
/// arguments and environment plus `MALLOC_ARENA_MAX=2` (same process id). A value the operator
/// set is kept. Returns when nothing is to be done, or when the program cannot be run again
/// (then it serves with glibc's default).
pub fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt;
        if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
            return;
        }
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        let mut args = std::env::args_os();
        let mut again = std::process::Command::new(exe);
        if let Some(argv0) = args.next() {
            again.arg0(argv0);
        }
        let err = again.args(args).env("MALLOC_ARENA_MAX", "2").exec();
        eprintln!("keysmith: serving with glibc's default malloc arenas: {err}");
    }
}

/// Prints `program: message` to stderr and exits with status 2: what a binary does when the
/// configuration is wrong or a server cannot start.
pub fn fail(program: &str, message: &str) -> ! {
    eprintln!("{program}: {message}");
    std::process::exit(2)
}

/// Starts the workers that belong with the admin service (the mint-job worker always, the
/// lifecycle worker unless `KEYSMITH_WORKER=off`) and binds the admin service.
fn admin_server(config: &Config, envs: Environments, metrics: Metrics) -> Result<Server, String> {
    let policy = config.webhook_policy().map_err(|e| e.to_string())?;
    crate::workers::mint::spawn(envs.clone());
    if config.worker {
        crate::workers::lifecycle::spawn(envs.clone(), &policy);
        if let Some(mail) = &config.mail {
            let mailer = crate::mailer::Mailer::new(mail).map_err(|e| e.to_string())?;
            crate::workers::mail_delivery::spawn(
                envs.clone(),
                std::sync::Arc::new(mailer),
                config.public_validation_url.clone(),
            );
        }
    }
    let control = open_control(config)?;
    offer_setup_link(config, &control)?;
    let operators = Operators::new(control, &config.public_admin_url).map_err(|e| e.to_string())?;
    let shared = Shared::admin(
        envs,
        operators,
        &config.public_validation_url,
        Clock::system(),
    )
    .with_webhook_policy(policy)
    .with_client_ips(config.trusted_proxies.clone())
    .with_metrics(metrics);
    crate::serve_admin(shared, config.admin_addr, config.admin_cors_origins.clone()).map_err(|e| {
        format!(
            "KEYSMITH_ADMIN_ADDR: cannot listen on {}: {e}",
            config.admin_addr
        )
    })
}

fn validation_server(
    config: &Config,
    envs: Environments,
    metrics: Metrics,
) -> Result<Server, String> {
    if config.portal && config.mail.is_none() {
        tracing::warn!(
            "the customer portal at /portal/ signs customers in by email: set KEYSMITH_SMTP_URL \
             and KEYSMITH_MAIL_FROM, or KEYSMITH_PORTAL=off"
        );
    }
    let site = crate::portal::PortalSite {
        enabled: config.portal,
        public_url: config.public_validation_url.clone(),
        mail: config.mail.is_some(),
    };
    if site.enabled && site.mail && !site.secure_or_local() {
        tracing::warn!(
            url = %site.public_url,
            "the customer portal's sign-in links and cookie travel over plain http: set \
             KEYSMITH_PUBLIC_VALIDATION_URL to the https:// address customers reach"
        );
    }
    let shared = Shared::validation(envs, config.rates)
        .with_portal(site)
        .with_client_ips(config.trusted_proxies.clone())
        .with_metrics(metrics);
    crate::serve_validation(shared, config.validation_addr).map_err(|e| {
        format!(
            "KEYSMITH_VALIDATION_ADDR: cannot listen on {}: {e}",
            config.validation_addr
        )
    })
}

/// The request metrics of this process's services, one set for all of them.
type Metrics = actix_web::web::Data<crate::telemetry::Metrics>;

/// The `KEYSMITH_METRICS_ADDR` listener, when configured, spawned on the current system.
fn metrics_server(config: &Config, metrics: Metrics) -> Result<(), String> {
    let Some(addr) = config.metrics_addr else {
        return Ok(());
    };
    let server = crate::serve_metrics(metrics, addr)
        .map_err(|e| format!("KEYSMITH_METRICS_ADDR: cannot listen on {addr}: {e}"))?;
    tracing::info!(addr = %addr, "metrics listening");
    actix_web::rt::spawn(server);
    Ok(())
}

/// Runs the admin service and its workers until SIGTERM/SIGINT (in-flight requests drain).
pub async fn run_admin(config: &Config) -> Result<(), String> {
    let metrics = Metrics::default();
    let server = admin_server(config, open_environments(config)?, metrics.clone())?;
    metrics_server(config, metrics)?;
    tracing::info!(addr = %config.admin_addr, "admin API listening");
    server.await.map_err(|e| format!("server error: {e}"))
}

/// Runs the validation service until SIGTERM/SIGINT (in-flight requests drain). Its metrics are
/// served only on `KEYSMITH_METRICS_ADDR`, never on the public listener.
pub async fn run_validation(config: &Config) -> Result<(), String> {
    let metrics = Metrics::default();
    let server = validation_server(config, open_environments(config)?, metrics.clone())?;
    metrics_server(config, metrics)?;
    tracing::info!(addr = %config.validation_addr, "validation API listening");
    server.await.map_err(|e| format!("server error: {e}"))
}

/// Runs both services and the workers in one process (`keysmith serve`) until SIGTERM/SIGINT;
/// both servers drain their in-flight requests. Both record into one set of metrics, served on
/// the admin listener (and `KEYSMITH_METRICS_ADDR`).
pub async fn run_all(config: &Config) -> Result<(), String> {
    let envs = open_environments(config)?;
    let metrics = Metrics::default();
    let admin = admin_server(config, envs.clone(), metrics.clone())?;
    let validation = validation_server(config, envs, metrics.clone())?;
    metrics_server(config, metrics)?;
    tracing::info!(admin = %config.admin_addr, validation = %config.validation_addr, "listening");
    let admin = actix_web::rt::spawn(admin);
    let results = [
        validation.await,
        admin
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e))),
    ];
    for r in results {
        r.map_err(|e| format!("server error: {e}"))?;
    }
    tracing::info!("stopped");
    Ok(())
}
