//! One-time links (SPEC §11): the first-operator setup link and the set-password link of an
//! invitation or reset, under `/v1/auth`. Who may call: anyone — each
//! request carries the link's own secret.

use actix_web::web::{self, Json};
use actix_web::{HttpRequest, HttpResponse};
use license_store::control::{ControlStore, LinkPurpose, NewOperator, Operator};
use license_store::tokens::Role;
use license_store::{Actor, StoreError};
use serde::Deserialize;
use uuid::Uuid;

use super::sessions::{SignedIn, operators, start};
use crate::AppState;
use crate::credentials::{check_password, hash_password};
use crate::error::ApiError;
use crate::extract::{ApiJson, client_ip, request_id};

/// `POST /v1/auth/setup`: the first operator, from the one-time setup link.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupBody {
    /// The secret after `#` in the setup link.
    token: String,
    #[schema(value_type = crate::schema::Email)]
    email: String,
    #[schema(value_type = crate::schema::Name)]
    name: String,
    #[schema(min_length = 12, max_length = 1024)]
    password: String,
}

/// `POST /v1/auth/set-password`: an invited operator (or one whose password was reset).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPasswordBody {
    /// The secret after `#` in the link.
    token: String,
    #[schema(min_length = 12, max_length = 1024)]
    password: String,
}

#[utoipa::path(
    post,
    path = "/v1/auth/setup",
    summary = "Create the first operator (admin in every environment) from the one-time setup link, and sign in",
    tag = "auth",
    request_body = SetupBody,
    responses((status = 200, description = "Created and signed in", body = SignedIn), (status = 400, description = "INVALID_REQUEST (password)"), (status = 410, description = "LINK_INVALID: used, expired, replaced, or an operator exists"), (status = 422, description = "INVALID_FIELD (email, name)")),
)]
pub(crate) async fn setup(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: ApiJson<SetupBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.0;
    check_password("password", &b.password)?;
    let ops = operators(&state)?;
    let roles = state
        .envs
        .iter()
        .map(|e| (e.name().to_owned(), Role::Admin))
        .collect();
    let (control, now) = (ops.control.clone(), state.clock.now());
    let ip = Some(client_ip(&req).to_string());
    let actor = Actor::named(format!("operator:{}", b.email.trim()), request_id(&req)).with_ip(ip);
    let (session, secret) = web::block(move || -> Result<_, ApiError> {
        let new = NewOperator {
            email: b.email,
            name: b.name,
            password_hash: Some(hash_password(&b.password)?),
            roles,
        };
        let operator = control.setup_first_operator(&actor, now, &b.token, new)?;
        Ok(control.start_session(&actor, now, operator.id)?)
    })
    .await??;
    start(&state, session.operator, &secret)
}

#[utoipa::path(
    post,
    path = "/v1/auth/set-password",
    summary = "Choose a password from an invitation or reset link (then sign in)",
    tag = "auth",
    request_body = SetPasswordBody,
    responses((status = 200, description = "The operator", body = Operator), (status = 400, description = "INVALID_REQUEST (password)"), (status = 410, description = "LINK_INVALID: used, expired or unknown")),
)]
pub(crate) async fn set_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: ApiJson<SetPasswordBody>,
) -> Result<Json<Operator>, ApiError> {
    let b = body.0;
    check_password("password", &b.password)?;
    let ops = operators(&state)?;
    let (control, now) = (ops.control.clone(), state.clock.now());
    let actor = Actor::system(request_id(&req)).with_ip(Some(client_ip(&req).to_string()));
    let operator = web::block(move || -> Result<Operator, ApiError> {
        let hash = hash_password(&b.password)?;
        Ok(control.use_password_link(&actor, now, &b.token, &hash)?)
    })
    .await??;
    Ok(Json(operator))
}

/// A one-time link for `operator` to choose a password: `{admin URL}/admin/set-password#<secret>`.
pub(crate) fn password_link(
    control: &ControlStore,
    public_admin_url: &str,
    actor: &Actor,
    now: time::OffsetDateTime,
    operator: Uuid,
) -> Result<String, StoreError> {
    let secret = control.create_link(
        actor,
        now,
        LinkPurpose::SetPassword,
        Some(operator),
        INVITE_TTL,
    )?;
    Ok(format!("{public_admin_url}/admin/set-password#{secret}"))
}

/// How long an invitation or reset link is valid.
pub const INVITE_TTL: time::Duration = time::Duration::days(3);

/// Routes under the `/v1/auth` scope (`admin::routes` makes it).
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/setup", web::post().to(setup))
        .route("/set-password", web::post().to(set_password));
}
