//! The OpenAPI documents of both services, generated from the handlers (utoipa) and checked in
//! under `docs/openapi/` (a test fails when they are stale).

use utoipa::OpenApi;

use crate::{admin, ops, validation};

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
    )
)]
#[derive(Debug)]
pub struct ValidationApi;

/// The OpenAPI document of the admin service.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "Keysmith admin API", description = "The operators' REST API over the whole license lifecycle. Programs send `Authorization: Bearer <token>` (a token of the path's environment); people sign in at `POST /v1/auth/login` and send the `keysmith_session` cookie, plus `X-Keysmith-CSRF` on POST, PUT, PATCH and DELETE. The role in the path's environment (admin, manager, support, viewer) decides what a caller may do. Errors are `{\"error\":{\"code\",\"message\",\"request_id\"}}`."),
    paths(
        admin::products::products,
        admin::products::create_product,
        admin::products::product,
        admin::products::update_product,
        admin::products::delete_product,
        admin::generators::generators,
        admin::generators::create_generator,
        admin::generators::generator,
        admin::generators::update_generator,
        admin::generators::delete_generator,
        admin::generators::format_preview,
        admin::customers::customers,
        admin::customers::create_customer,
        admin::customers::customer,
        admin::customers::update_customer,
        admin::customers::delete_customer,
        admin::licenses::licenses,
        admin::licenses::create_license,
        admin::licenses::license,
        admin::licenses::update_license,
        admin::licenses::delete_license,
        admin::activations::activations,
        admin::activations::license_activations,
        admin::license_actions::assign,
        admin::license_actions::suspend,
        admin::license_actions::unsuspend,
        admin::license_actions::inactivate,
        admin::license_actions::reactivate,
        admin::license_actions::revoke,
        admin::license_actions::remint,
        admin::license_actions::reveal,
        admin::preview::preview,
        admin::activations::deactivate_activation,
        admin::tokens::tokens,
        admin::tokens::create_token,
        admin::tokens::delete_token,
        admin::settings::settings,
        admin::settings::put_settings,
        admin::audit::audit,
        admin::audit::events,
        admin::jobs::jobs,
        admin::jobs::job,
        admin::stats::stats,
        admin::webhooks::webhooks,
        admin::webhooks::create_webhook,
        admin::webhooks::webhook,
        admin::webhooks::webhook_deliveries,
        admin::webhooks::ping_webhook,
        admin::webhooks::retry_delivery,
        admin::webhooks::update_webhook,
        admin::webhooks::delete_webhook,
        admin::sessions::login,
        admin::sessions::logout,
        admin::sessions::me,
        admin::sessions::change_password,
        admin::sessions::reauth,
        admin::sessions::totp,
        admin::sessions::setup,
        admin::sessions::set_password,
        admin::operators::list,
        admin::operators::invite,
        admin::operators::get,
        admin::operators::update,
        admin::operators::reset_password,
        admin::operators::audit,
        admin::jobs::generate,
        admin::jobs::job_keys,
        admin::export::export_csv,
        admin::export::export_json,
        admin::import::import,
        ops::healthz,
        ops::readyz,
        ops::metrics,
    ),
    modifiers(&BearerAuth)
)]
pub struct AdminApi;

/// The admin API's two ways in: a bearer token (programs) and the session cookie (people).
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::SESSION_COOKIE,
                "The session cookie set by POST /v1/auth/login. Unsafe methods also need the \
                 X-Keysmith-CSRF header with the session's csrf_token.",
            ))),
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
