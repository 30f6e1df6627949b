//! `validation-api`: reads the configuration, then serves the public validation API.

use license_http::startup;

#[actix_web::main]
async fn main() {
    startup::limit_malloc_arenas();
    let config = startup::load_config().unwrap_or_else(|e| fail(&e));
    startup::run_validation(&config)
        .await
        .unwrap_or_else(|e| fail(&e));
}

fn fail(message: &str) -> ! {
    startup::fail("validation-api", message)
}
