//! The OpenAPI documents of both services, generated from the handlers (utoipa) and checked in
//! under `docs/openapi/` (a test fails when they are stale).

use utoipa::OpenApi;

use crate::{admin, ops, portal, validation};

/// The OpenAPI document of the validation service.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Keysmith validation API",
        description = "The public API customer software calls to validate, activate and deactivate license keys, to fetch lease verification keys, and the customer portal's API (`/v1/{env}/portal`: customers signed in by an emailed link see their own licenses)."
    ),
    paths(
        validation::validate,
        validation::activate,
        validation::deactivate,
        validation::keys,
        portal::api::login,
        portal::api::redeem,
        portal::api::me,
        portal::api::logout,
        portal::api::licenses,
        portal::api::reveal,
        portal::api::devices,
        portal::api::deactivate,
        portal::api::offline_file,
        ops::healthz,
        ops::readyz,
    ),
    modifiers(&PortalAuth, &ErrorResponses)
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
        admin::mail::portal_access,
        admin::mail::set_portal_access,
        admin::mail::customer_mail,
        admin::mail::mail_templates,
        admin::mail::preview,
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
        admin::webhooks::event_types,
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
        admin::links::setup,
        admin::links::set_password,
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
    modifiers(&BearerAuth, &ErrorResponses)
)]
pub struct AdminApi;

/// Every error of every `/v1` operation, in one place: the §1 error body as a schema on each
/// error response, and the statuses any operation can answer whatever its handler does —
/// 400 (a malformed path, query or body), 404 (an unknown environment), 413 and 415 (a body
/// too large or not JSON), 401 and 403 (a secured operation), 429 (the validation API's rate
/// limits), 503 (the database unreachable) and 500.
struct ErrorResponses;

impl utoipa::Modify for ErrorResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        let string = || ObjectBuilder::new().schema_type(Type::String);
        let body = ObjectBuilder::new()
            .property(
                "error",
                ObjectBuilder::new()
                    .property(
                        "code",
                        string().description(Some("A stable code (SPEC §1), e.g. INVALID_REQUEST")),
                    )
                    .property(
                        "message",
                        string()
                            .description(Some("What went wrong and what to do, naming the field")),
                    )
                    .property("request_id", string())
                    .property(
                        "field",
                        string().description(Some("The field at fault, when one is")),
                    )
                    .required("code")
                    .required("message")
                    .additional_properties(Some(
                        utoipa::openapi::schema::AdditionalProperties::FreeForm(true),
                    )),
            )
            .required("error");
        openapi
            .components
            .get_or_insert_with(Default::default)
            .schemas
            .insert("Error".into(), RefOr::T(body.into()));
        let error_content = || {
            ContentBuilder::new()
                .schema(Some(RefOr::Ref(Ref::from_schema_name("Error"))))
                .build()
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            if !path.starts_with("/v1/") {
                continue;
            }
            let public = !path.starts_with("/v1/{env}/")
                || ["/validate", "/activate", "/deactivate", "/keys"]
                    .iter()
                    .any(|p| path.ends_with(p));
            let validation = ["/validate", "/activate", "/deactivate"]
                .iter()
                .any(|p| path.ends_with(p));
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                let secured = op.security.as_ref().is_some_and(|s| !s.is_empty()) || !public;
                let has_body = op.request_body.is_some();
                let mut add = vec![
                    (
                        "400",
                        "INVALID_REQUEST: a malformed path, query or body (the message names the field)",
                    ),
                    ("404", "NOT_FOUND or ENVIRONMENT_NOT_FOUND"),
                    ("500", "INTERNAL"),
                    ("503", "UNAVAILABLE: the database cannot be reached; retry"),
                ];
                if has_body {
                    add.push(("413", "PAYLOAD_TOO_LARGE"));
                    add.push((
                        "415",
                        "UNSUPPORTED_MEDIA_TYPE: send the body as application/json",
                    ));
                    add.push(("422", "INVALID_FIELD (the error names the field)"));
                }
                if secured {
                    add.push(("401", "UNAUTHORIZED"));
                    add.push(("403", "FORBIDDEN, CSRF_FAILED or REAUTH_REQUIRED"));
                }
                if validation
                    || path.contains("/portal/")
                    || path.starts_with("/v1/auth/")
                    || path.ends_with("/licenses")
                    || path.contains("/licenses/export")
                {
                    add.push(("429", "RATE_LIMITED, with Retry-After"));
                }
                let responses = &mut op.responses.responses;
                for (status, description) in add {
                    responses.entry(status.into()).or_insert_with(|| {
                        RefOr::T(ResponseBuilder::new().description(description).build())
                    });
                }
                for (status, response) in responses.iter_mut() {
                    if let (false, RefOr::T(r)) =
                        (status.starts_with('2') || status.starts_with('3'), response)
                        && r.content.is_empty()
                    {
                        r.content.insert("application/json".into(), error_content());
                    }
                }
            }
        }
    }
}

/// The portal's session cookie (SPEC §14).
struct PortalAuth;

impl utoipa::Modify for PortalAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "portal",
                SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                    crate::portal::PORTAL_COOKIE,
                    "A customer's portal session, set by POST /v1/{env}/portal/session (path \
                     /v1/{env}/portal). Unsafe methods also need the X-Keysmith-CSRF header with \
                     the session's csrf_token.",
                ))),
            );
    }
}

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
