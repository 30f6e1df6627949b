//! `validation-api`: reads the configuration, opens the environments, serves the validation API.

use license_http::config::Config;

#[actix_web::main]
async fn main() {
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => fail(&e.to_string()),
    };
    if let Err(e) = license_http::telemetry::init_logging(&config.log, config.log_format) {
        fail(&e);
    }
    let envs = license_http::startup::open_environments(&config).unwrap_or_else(|e| fail(&e));
    let shared = license_http::Shared::validation(envs, config.rates);
    let server =
        license_http::serve_validation(shared, config.validation_addr).unwrap_or_else(|e| {
            fail(&format!(
                "KEYSMITH_VALIDATION_ADDR: cannot listen on {}: {e}",
                config.validation_addr
            ))
        });
    tracing::info!(addr = %config.validation_addr, "validation API listening");
    if let Err(e) = server.await {
        fail(&format!("server error: {e}"));
    }
}

fn fail(message: &str) -> ! {
    eprintln!("validation-api: {message}");
    std::process::exit(2)
}
