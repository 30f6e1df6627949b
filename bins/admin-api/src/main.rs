//! `admin-api`: reads the configuration, then serves the admin REST API and runs the workers.

use license_http::startup;

#[actix_web::main]
async fn main() {
    startup::limit_malloc_arenas();
    let config = startup::load_config().unwrap_or_else(|e| fail(&e));
    startup::run_admin(&config)
        .await
        .unwrap_or_else(|e| fail(&e));
}

fn fail(message: &str) -> ! {
    startup::fail("admin-api", message)
}
