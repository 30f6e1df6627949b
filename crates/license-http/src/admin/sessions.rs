//! Signing in and the signed-in operator's own account (SPEC §11), under `/v1/auth`: login
//! (throttled per IP and email; an unknown email and a wrong password look the same), logout,
//! `me`, password change (ends the operator's other sessions), TOTP enrolment, re-authentication;
//! the routes of the one-time links (first-operator setup, set-password) are in `links`.
//!
//! Who may call: `login`, `setup` and `set-password` anyone (they carry their own secret); the
//! rest a signed-in operator (session cookie, CSRF header on POST).

use actix_web::cookie::{Cookie, SameSite, time as cookie_time};
use actix_web::web;
use actix_web::{HttpRequest, HttpResponse};
use license_store::Actor;
use license_store::control::Operator;
use license_store::tokens::Role;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::auth::{SESSION_COOKIE, SessionCaller, csrf_token};
use crate::credentials::{MAX_PASSWORD, check_password, hash_password, verify_password};
use crate::error::ApiError;
use crate::extract::{ApiJson, client_ip, request_id};
use crate::respond::{NoContent, NoStore};
use crate::{AppState, Operators};

/// `POST /v1/auth/login`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    email: String,
    password: String,
    /// The 6-digit code, for an operator with TOTP.
    totp: Option<String>,
}

/// An environment the operator may use, and its role there.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EnvironmentRole {
    name: String,
    #[schema(value_type = String)]
    role: Role,
}

/// The signed-in operator: who, where, and the CSRF token for unsafe requests.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SignedIn {
    operator: Operator,
    environments: Vec<EnvironmentRole>,
    /// Send it as `X-Keysmith-CSRF` with every POST, PUT, PATCH and DELETE.
    csrf_token: String,
}

/// `POST /v1/auth/password`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    current_password: String,
    #[schema(min_length = 12, max_length = 1024)]
    new_password: String,
}

/// `POST /v1/auth/reauth`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReauthBody {
    password: String,
}

/// `POST /v1/auth/totp`: `enroll` (answers the secret), `confirm` with a `code`, `remove` with
/// the `password`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpBody {
    /// `enroll`, `confirm` or `remove`.
    action: String,
    code: Option<String>,
    password: Option<String>,
}

/// The secret of a TOTP enrolment, for the authenticator app.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TotpEnrolment {
    /// Base32, to type in.
    secret: String,
    /// `otpauth://` URL, to scan as a QR code.
    otpauth_url: String,
}

pub(crate) fn operators(state: &AppState) -> Result<&Operators, ApiError> {
    state.operators.as_ref().ok_or(ApiError::Unavailable)
}

fn session_cookie(secret: &str, secure: bool) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, secret.to_owned())
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .max_age(cookie_time::Duration::days(7))
        .finish()
}

fn signed_in(state: &AppState, operator: Operator, secret_or_csrf: Csrf) -> SignedIn {
    let mut environments: Vec<EnvironmentRole> = operator
        .roles
        .iter()
        .filter(|(env, _)| state.envs.get(env).is_some())
        .map(|(env, role)| EnvironmentRole {
            name: env.clone(),
            role: *role,
        })
        .collect();
    environments.sort_by(|a, b| a.name.cmp(&b.name));
    let csrf_token = match secret_or_csrf {
        Csrf::FromSecret(s) => csrf_token(s),
        Csrf::Known(t) => t,
    };
    SignedIn {
        operator,
        environments,
        csrf_token,
    }
}

enum Csrf<'a> {
    FromSecret(&'a str),
    Known(String),
}

/// 200 with the signed-in body and a fresh session cookie.
pub(crate) fn start(
    state: &AppState,
    operator: Operator,
    secret: &str,
) -> Result<HttpResponse, ApiError> {
    let secure = operators(state)?.secure_cookies();
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .cookie(session_cookie(secret, secure))
        .json(signed_in(state, operator, Csrf::FromSecret(secret))))
}

/// Outcome of checking a password (and code) for an email.
enum Check {
    Ok(Operator),
    NeedsTotp,
    Failed(&'static str),
}

/// Checks `password` (and `totp`) for `email` on the blocking pool. An unknown email is checked
/// against a dummy hash, so it costs what a wrong password costs.
async fn check_credentials(
    ops: &Operators,
    email: String,
    password: String,
    totp: Option<String>,
    now: time::OffsetDateTime,
) -> Result<Check, ApiError> {
    if password.chars().count() > MAX_PASSWORD {
        return Ok(Check::Failed("password too long"));
    }
    let (control, dummy) = (ops.control.clone(), ops.dummy_hash.clone());
    web::block(move || -> Result<Check, ApiError> {
        let record = control.login_record(&email)?;
        let hash = record
            .as_ref()
            .and_then(|r| r.password_hash.clone())
            .unwrap_or(dummy);
        let matches = verify_password(&password, &hash);
        let Some(record) = record else {
            return Ok(Check::Failed("unknown email"));
        };
        if record.password_hash.is_none() {
            return Ok(Check::Failed("no password set"));
        }
        if !matches {
            return Ok(Check::Failed("wrong password"));
        }
        if record.operator.disabled {
            return Ok(Check::Failed("operator disabled"));
        }
        match (&record.totp_secret, totp) {
            (None, _) => Ok(Check::Ok(record.operator)),
            (Some(_), None) => Ok(Check::NeedsTotp),
            (Some(secret), Some(code)) => {
                match license_core::totp::matched_step(secret, &code, now) {
                    None => Ok(Check::Failed("wrong TOTP code")),
                    Some(step) if !control.use_totp_step(record.operator.id, step)? => {
                        Ok(Check::Failed("TOTP code used before"))
                    }
                    Some(_) => Ok(Check::Ok(record.operator)),
                }
            }
        }
    })
    .await?
}

/// Writes `login.failed` (or `action`) to the control audit (the attempt was counted when it was
/// admitted).
async fn failed(
    ops: &Operators,
    actor: Actor,
    email: &str,
    action: &'static str,
    reason: &'static str,
    now: time::OffsetDateTime,
) -> ApiError {
    let control = ops.control.clone();
    // What was typed as the email is kept only when it looks like one: people type passwords
    // into the wrong field, and the audit is read by admins.
    let looks_like_email = email.contains('@') && !email.chars().any(char::is_whitespace);
    let email = if looks_like_email {
        email
    } else {
        "(not an email address)"
    };
    let details = json!({"email": email, "reason": reason});
    let details = details.as_object().cloned().unwrap_or_default();
    if let Ok(Err(e)) = web::block(move || control.audit(now, &actor, action, None, details)).await
    {
        tracing::warn!(error = %e, "cannot write the control audit");
    }
    ApiError::InvalidCredentials
}

#[utoipa::path(
    post,
    path = "/v1/auth/login",
    summary = "Sign in: sets the session cookie and answers the operator, environments and CSRF token",
    tag = "auth",
    request_body = LoginBody,
    responses(
        (status = 200, description = "Signed in; `Set-Cookie: keysmith_session=...; HttpOnly; SameSite=Strict`", body = SignedIn),
        (status = 401, description = "INVALID_CREDENTIALS (unknown email and wrong password alike) or TOTP_REQUIRED"),
        (status = 429, description = "RATE_LIMITED, with Retry-After: too many failed sign-ins from this IP or for this email"),
    )
)]
pub(crate) async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: ApiJson<LoginBody>,
) -> Result<HttpResponse, ApiError> {
    let ops = operators(&state)?;
    let (ip, now, b) = (client_ip(&req), state.clock.now(), body.0);
    let email = b.email.trim().to_owned();
    if email.len() > crate::throttle::MAX_EMAIL {
        // No operator has such an address: refused without counting or auditing it.
        return Err(ApiError::InvalidCredentials);
    }
    ops.throttle
        .attempt(ip, &email, now)
        .map_err(|retry_after_secs| ApiError::RateLimited { retry_after_secs })?;
    let actor = Actor::system(request_id(&req)).with_ip(Some(ip.to_string()));
    match check_credentials(ops, email.clone(), b.password, b.totp, now).await? {
        Check::Failed(reason) => Err(failed(ops, actor, &email, "login.failed", reason, now).await),
        Check::NeedsTotp => {
            ops.throttle.forgive(ip, &email);
            Err(ApiError::TotpRequired)
        }
        Check::Ok(operator) => {
            ops.throttle.succeeded(ip, &email);
            let actor = Actor::named(operator.actor_name(), actor.request_id).with_ip(actor.ip);
            let control = ops.control.clone();
            let id = operator.id;
            let (session, secret) =
                web::block(move || control.start_session(&actor, now, id)).await??;
            start(&state, session.operator, &secret)
        }
    }
}

#[utoipa::path(
    post,
    path = "/v1/auth/logout",
    summary = "Sign out: ends this session and clears the cookie",
    tag = "auth",
    responses((status = 204, description = "Signed out"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "CSRF_FAILED")),
    security(("session" = []))
)]
pub(crate) async fn logout(
    caller: SessionCaller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let ops = operators(&state)?;
    let (control, now, id) = (ops.control.clone(), state.clock.now(), caller.session.id);
    web::block(move || control.end_session(&caller.actor, now, id)).await??;
    let mut gone = session_cookie("", ops.secure_cookies());
    gone.make_removal();
    Ok(HttpResponse::NoContent().cookie(gone).finish())
}

#[utoipa::path(
    get,
    path = "/v1/auth/me",
    summary = "The signed-in operator, its environments and roles, and the CSRF token",
    tag = "auth",
    responses((status = 200, description = "OK", body = SignedIn), (status = 401, description = "UNAUTHORIZED")),
    security(("session" = []))
)]
pub(crate) async fn me(
    caller: SessionCaller,
    state: web::Data<AppState>,
) -> Result<NoStore<SignedIn>, ApiError> {
    let SessionCaller {
        session,
        csrf_token,
        ..
    } = caller;
    Ok(NoStore(signed_in(
        &state,
        session.operator,
        Csrf::Known(csrf_token),
    )))
}

/// Checks the signed-in operator's password (throttled like a login).
async fn check_own_password(
    caller: &SessionCaller,
    state: &AppState,
    req: &HttpRequest,
    password: String,
) -> Result<(), ApiError> {
    let ops = operators(state)?;
    let (ip, now) = (client_ip(req), state.clock.now());
    let email = caller.session.operator.email.clone();
    ops.throttle
        .attempt(ip, &email, now)
        .map_err(|retry_after_secs| ApiError::RateLimited { retry_after_secs })?;
    let (control, id) = (ops.control.clone(), caller.session.operator.id);
    let ok = web::block(move || -> Result<bool, ApiError> {
        let hash = control.credentials(id)?.password_hash;
        Ok(hash.is_some_and(|h| verify_password(&password, &h)))
    })
    .await??;
    if ok {
        ops.throttle.succeeded(ip, &email);
        return Ok(());
    }
    let actor = caller.actor.clone();
    Err(failed(
        ops,
        actor,
        &email,
        "password.check_failed",
        "wrong password",
        now,
    )
    .await)
}

#[utoipa::path(
    post,
    path = "/v1/auth/password",
    summary = "Change the password; ends the operator's other sessions",
    tag = "auth",
    request_body = PasswordBody,
    responses((status = 204, description = "Changed"), (status = 400, description = "INVALID_REQUEST (new_password too short or long)"), (status = 401, description = "UNAUTHORIZED or INVALID_CREDENTIALS (current_password)"), (status = 403, description = "CSRF_FAILED")),
    security(("session" = []))
)]
pub(crate) async fn change_password(
    req: HttpRequest,
    caller: SessionCaller,
    state: web::Data<AppState>,
    body: ApiJson<PasswordBody>,
) -> Result<NoContent, ApiError> {
    let b = body.0;
    check_password("new_password", &b.new_password)?;
    check_own_password(&caller, &state, &req, b.current_password).await?;
    let ops = operators(&state)?;
    let (control, now) = (ops.control.clone(), state.clock.now());
    let (id, session) = (caller.session.operator.id, caller.session.id);
    web::block(move || -> Result<(), ApiError> {
        let hash = hash_password(&b.new_password)?;
        control.set_password(&caller.actor, now, id, &hash, Some(session))?;
        Ok(control.reauthenticated(&caller.actor, now, session)?)
    })
    .await??;
    Ok(NoContent)
}

#[utoipa::path(
    post,
    path = "/v1/auth/reauth",
    summary = "Enter the password again: reveal and preview work for 5 minutes when the settings ask for it",
    tag = "auth",
    request_body = ReauthBody,
    responses((status = 204, description = "Re-authenticated"), (status = 401, description = "UNAUTHORIZED or INVALID_CREDENTIALS"), (status = 403, description = "CSRF_FAILED"), (status = 429, description = "RATE_LIMITED")),
    security(("session" = []))
)]
pub(crate) async fn reauth(
    req: HttpRequest,
    caller: SessionCaller,
    state: web::Data<AppState>,
    body: ApiJson<ReauthBody>,
) -> Result<NoContent, ApiError> {
    check_own_password(&caller, &state, &req, body.0.password).await?;
    let ops = operators(&state)?;
    let (control, now, id) = (ops.control.clone(), state.clock.now(), caller.session.id);
    web::block(move || control.reauthenticated(&caller.actor, now, id)).await??;
    Ok(NoContent)
}

#[utoipa::path(
    post,
    path = "/v1/auth/totp",
    summary = "TOTP: enroll (answers the secret), confirm with a code, or remove with the password",
    tag = "auth",
    request_body = TotpBody,
    responses((status = 200, description = "enroll: the secret and otpauth URL (not stored by the browser: no-store)", body = TotpEnrolment), (status = 204, description = "confirm, remove: done"), (status = 400, description = "INVALID_REQUEST (action, code)"), (status = 401, description = "UNAUTHORIZED or INVALID_CREDENTIALS (remove)"), (status = 403, description = "CSRF_FAILED")),
    security(("session" = []))
)]
pub(crate) async fn totp(
    req: HttpRequest,
    caller: SessionCaller,
    state: web::Data<AppState>,
    body: ApiJson<TotpBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.0;
    let ops = operators(&state)?;
    let (control, now, id) = (
        ops.control.clone(),
        state.clock.now(),
        caller.session.operator.id,
    );
    match b.action.as_str() {
        "enroll" => {
            if caller.session.operator.totp_enabled {
                return Err(ApiError::InvalidRequest(
                    "action: TOTP is on already; remove it first to enroll a new secret".into(),
                ));
            }
            let mut secret = [0u8; license_core::totp::SECRET_LEN];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut secret);
            let email = caller.session.operator.email.clone();
            web::block(move || control.begin_totp(&caller.actor, now, id, &secret)).await??;
            Ok(HttpResponse::Ok()
                .insert_header(("Cache-Control", "no-store"))
                .json(TotpEnrolment {
                    secret: license_core::totp::base32(&secret),
                    otpauth_url: license_core::totp::otpauth_url("Keysmith", &email, &secret),
                }))
        }
        "confirm" => {
            let code = b.code.ok_or_else(|| {
                ApiError::InvalidRequest("code: the 6-digit code from the app is required".into())
            })?;
            web::block(move || -> Result<(), ApiError> {
                let pending = control.pending_totp(id)?.ok_or_else(|| {
                    ApiError::InvalidRequest("action: no enrolment is waiting; enroll first".into())
                })?;
                let Some(step) = license_core::totp::matched_step(&pending, &code, now) else {
                    return Err(ApiError::InvalidRequest(
                        "code: not the current code; check the app's clock and try the next one"
                            .into(),
                    ));
                };
                control.confirm_totp(&caller.actor, now, id)?;
                control.use_totp_step(id, step)?;
                Ok(())
            })
            .await??;
            Ok(HttpResponse::NoContent().finish())
        }
        "remove" => {
            let password = b.password.ok_or_else(|| {
                ApiError::InvalidRequest("password: your password is required".into())
            })?;
            check_own_password(&caller, &state, &req, password).await?;
            web::block(move || control.remove_totp(&caller.actor, now, id)).await??;
            Ok(HttpResponse::NoContent().finish())
        }
        other => Err(ApiError::InvalidRequest(format!(
            "action: {other:?} is not enroll, confirm or remove"
        ))),
    }
}

/// Routes under the `/v1/auth` scope (`admin::routes` makes it).
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::post().to(login))
        .route("/logout", web::post().to(logout))
        .route("/me", web::get().to(me))
        .route("/password", web::post().to(change_password))
        .route("/reauth", web::post().to(reauth))
        .route("/totp", web::post().to(totp));
}
