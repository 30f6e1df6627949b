//! `admin-api`: reads the configuration, opens the environments, serves the admin REST API.

use license_http::config::Config;

#[actix_web::main]
async fn main() {
    let config = Config::from_env().unwrap_or_else(|e| fail(&e.to_string()));
    license_http::telemetry::init_logging(&config.log, config.log_format)
        .unwrap_or_else(|e| fail(&e));
    let envs = license_http::startup::open_environments(&config).unwrap_or_else(|e| fail(&e));
    license_http::bulk::spawn_job_worker(envs.clone());
    if config.worker {
        license_http::worker::spawn(envs.clone());
    }
    let shared = license_http::Shared::admin(envs, &config.public_validation_url);
    let server =
        license_http::serve_admin(shared, config.admin_addr, config.admin_cors_origins.clone())
            .unwrap_or_else(|e| {
                fail(&format!(
                    "KEYSMITH_ADMIN_ADDR: cannot listen on {}: {e}",
                    config.admin_addr
                ))
            });
    tracing::info!(addr = %config.admin_addr, "admin API listening");
    if let Err(e) = server.await {
        fail(&format!("server error: {e}"));
    }
}

fn fail(message: &str) -> ! {
    eprintln!("admin-api: {message}");
    std::process::exit(2)
}
