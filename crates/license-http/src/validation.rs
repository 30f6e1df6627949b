//! The public validation API (SPEC §7): validate, activate, deactivate, and the signing keys.
//! Customer software talks to these routes; they never show customer data or admin metadata.

use std::net::IpAddr;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use license_core::{Fingerprint, Outcome, ProductRef, keys};
use license_store::Actor;
use license_store::activation::NewActivation;
use license_store::model::JsonObject;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::environments::Environment;
use crate::error::{ApiError, OutcomeCode};
use crate::extract::{ApiJson, client_ip, environment, request_id};
use crate::public::{self, PublicActivation, PublicLicense};
use crate::telemetry::KeyHint;
use crate::validate_work::Ask;

/// `POST /v1/{env}/validate` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateRequest {
    /// The license key as the customer typed it (case and surrounding space do not matter).
    #[schema(min_length = 1, max_length = 256, pattern = r"\S")]
    pub key: String,
    /// This instance's id; with it the instance must hold an active activation and gets a lease.
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]+$"
    )]
    pub fingerprint: Option<String>,
    /// The product the software is: its id or code.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^(?=[\s\S]*\S)[^\x00-\x1F\x7F-\x9F]+$"
    )]
    pub product: Option<String>,
    /// Up to 64 characters chosen by the client, echoed in the lease.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^(?=[\s\S]*\S)[^\x00-\x1F\x7F-\x9F]+$"
    )]
    pub nonce: Option<String>,
}

/// `POST /v1/{env}/activate` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivateRequest {
    #[schema(min_length = 1, max_length = 256, pattern = r"\S")]
    pub key: String,
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]+$"
    )]
    pub fingerprint: String,
    #[schema(value_type = Option<crate::schema::Name>)]
    pub name: Option<String>,
    #[schema(value_type = Option<crate::schema::Name>)]
    pub platform: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<JsonObject>,
}

/// `POST /v1/{env}/deactivate` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeactivateRequest {
    #[schema(min_length = 1, max_length = 256, pattern = r"\S")]
    pub key: String,
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]+$"
    )]
    pub fingerprint: String,
}

/// The answer to validate (200, and 422/404 with `valid: false`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ValidateResponse {
    pub valid: bool,
    /// `VALID`, `GRACE_PERIOD`, `REVOKED`, `REMINTED`, `SUSPENDED`, `INACTIVE`, `EXPIRED`,
    /// `NOT_ASSIGNED`, `NOT_ACTIVATED`, `PRODUCT_MISMATCH` or `NOT_FOUND`.
    pub code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license: Option<PublicLicense>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activation: Option<PublicActivation>,
    /// A signed lease (with a fingerprint only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease: Option<String>,
    /// End of the grace period (`GRACE_PERIOD` only).
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub grace_until: Option<OffsetDateTime>,
}

/// The answer to activate and deactivate.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActivationResponse {
    /// `ACTIVATED`, `ALREADY_ACTIVATED`, `DEACTIVATED`, or a refusal code.
    pub code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activation: Option<PublicActivation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license: Option<PublicLicense>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease: Option<String>,
}

/// A published verification key.
#[derive(Debug, Serialize, ToSchema)]
pub struct Jwk {
    pub kid: String,
    /// Always `EdDSA`.
    pub alg: &'static str,
    /// Always `Ed25519`.
    pub crv: &'static str,
    /// Base64url (no padding) public key.
    pub x: String,
    /// `active` or `retired` (retired keys still verify).
    pub status: String,
}

/// `GET /v1/{env}/keys`.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeySet {
    pub keys: Vec<Jwk>,
}

fn check_key(key: &str) -> Result<String, ApiError> {
    let k = key.trim();
    if k.is_empty() || k.chars().count() > 256 {
        return Err(ApiError::InvalidRequest(
            "key: must be 1-256 characters".into(),
        ));
    }
    Ok(k.to_owned())
}

fn check_fingerprint(fp: &str) -> Result<Fingerprint, ApiError> {
    Fingerprint::new(fp).map_err(|e| ApiError::InvalidRequest(e.to_string()))
}

fn check_text(field: &str, v: Option<&str>, max: usize) -> Result<(), ApiError> {
    match v {
        Some(s)
            if s.trim().is_empty()
                || s.chars().count() > max
                || s.chars().any(char::is_control) =>
        {
            Err(ApiError::InvalidRequest(format!(
                "{field}: must be 1-{max} printable characters"
            )))
        }
        _ => Ok(()),
    }
}

/// Marks a response with its outcome code and key hint (for the log line and metrics).
fn tagged(mut res: HttpResponse, code: &'static str, key: &str) -> HttpResponse {
    res.extensions_mut().insert(OutcomeCode(code));
    // Logs hold at most a display form (SPEC §5): the mask and the last four characters.
    let normalized = keys::normalize(key);
    let last4: String = normalized
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    res.extensions_mut()
        .insert(KeyHint(format!("····-{last4}")));
    res
}

/// Suspends a license for crossing an abuse rule (actor `abuse-detector`). A license that is not
/// active any more is left as it is.
async fn suspend_for_abuse(env: Arc<Environment>, license: Uuid, rule: String, request_id: String) {
    let actor = Actor::named("abuse-detector", request_id);
    let action = license_store::licenses::LicenseAction::Suspend {
        reason: rule.clone(),
    };
    let result = web::block(move || {
        env.store()
            .act(&actor, OffsetDateTime::now_utc(), license, action)
    })
    .await;
    match result {
        Ok(Ok(_)) => {
            tracing::warn!(license = %license, rule = %rule, "license suspended by abuse detection")
        }
        Ok(Err(e)) => {
            tracing::info!(license = %license, error = %e, "abuse rule crossed; license not suspended")
        }
        Err(e) => tracing::warn!(license = %license, error = %e, "abuse suspension not run"),
    }
}

/// A customer's request that passed the rate limits: its client IP, its actor for audit
/// entries (`system`, with the request id and IP) and the time it is answered at.
struct Client {
    ip: IpAddr,
    actor: Actor,
    now: OffsetDateTime,
}

/// Limits checked before any lookup: the client IP, then the key.
fn admit(state: &AppState, req: &HttpRequest, key: &str) -> Result<Client, ApiError> {
    let ip = client_ip(req);
    state.limiter.check_ip(ip)?;
    // One bucket per license whatever the spelling: the Crockford reading (O→0, I/L→1) of the key.
    let digest = license_core::KeyDigest::unkeyed(&keys::crockford_form(&keys::normalize(key)));
    state.limiter.check_key(digest.as_bytes())?;
    Ok(Client {
        ip,
        actor: Actor::system(request_id(req)).with_ip(Some(ip.to_string())),
        now: OffsetDateTime::now_utc(),
    })
}

fn outcome_status(o: &Outcome) -> StatusCode {
    match o {
        Outcome::NotFound => StatusCode::NOT_FOUND,
        Outcome::Activated => StatusCode::CREATED,
        o if o.is_success() => StatusCode::OK,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

/// Validates a license key.
#[utoipa::path(
    post,
    path = "/v1/{env}/validate",
    params(("env" = String, Path, description = "Environment name")),
    request_body = ValidateRequest,
    responses(
        (status = 200, description = "VALID or GRACE_PERIOD", body = ValidateResponse),
        (status = 404, description = "NOT_FOUND (unknown key) or ENVIRONMENT_NOT_FOUND", body = ValidateResponse),
        (status = 422, description = "A refusal: REVOKED, REMINTED, SUSPENDED, INACTIVE, EXPIRED, NOT_ASSIGNED, NOT_ACTIVATED, PRODUCT_MISMATCH", body = ValidateResponse),
        (status = 400, description = "INVALID_REQUEST"),
        (status = 429, description = "RATE_LIMITED, with Retry-After"),
    )
)]
pub async fn validate(
    req: HttpRequest,
    env: web::Path<String>,
    body: ApiJson<ValidateRequest>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let env = environment(&state, &env)?;
    let body = body.0;
    let key = check_key(&body.key)?;
    let fingerprint = body
        .fingerprint
        .as_deref()
        .map(check_fingerprint)
        .transpose()?;
    check_text("product", body.product.as_deref(), 64)?;
    check_text("nonce", body.nonce.as_deref(), 64)?;
    let Client { ip, actor, now } = admit(&state, &req, &key)?;
    let ask = Ask {
        actor,
        now,
        key: key.clone(),
        fingerprint,
        product: body.product.as_deref().map(ProductRef::parse),
        nonce: body.nonce,
    };
    let (answer, lease, rules) = match ask.right_away(&env) {
        Some(done) => done?,
        None => {
            let env = env.clone();
            web::block(move || ask.blocking(&env)).await??
        }
    };
    let outcome = answer.decision.outcome;
    if outcome == Outcome::NotFound {
        state.limiter.record_unknown(ip)?;
    }
    let success = outcome.is_success();
    if let Some(l) = answer.license.as_ref().filter(|_| success)
        && let Some(rule) = state.abuse.validated(&rules, l.id, ip, now)
    {
        suspend_for_abuse(env, l.id, rule, request_id(&req)).await;
    }
    let license = match (&answer.license, &answer.product) {
        (Some(l), Some(p)) if success => Some(public::license(l, p)),
        _ => None,
    };
    let body = ValidateResponse {
        valid: success,
        code: outcome.code(),
        message: (!success).then(|| outcome.message()),
        license,
        activation: answer
            .activation
            .as_ref()
            .filter(|_| success)
            .map(public::activation),
        lease,
        grace_until: match outcome {
            Outcome::GracePeriod { grace_until } => Some(grace_until),
            _ => None,
        },
    };
    let res = HttpResponse::build(outcome_status(&outcome)).json(body);
    Ok(tagged(res, outcome.code(), &key))
}

/// Activates an instance (a device) on a license.
#[utoipa::path(
    post,
    path = "/v1/{env}/activate",
    params(("env" = String, Path, description = "Environment name")),
    request_body = ActivateRequest,
    responses(
        (status = 201, description = "ACTIVATED, with a lease", body = ActivationResponse),
        (status = 200, description = "ALREADY_ACTIVATED (idempotent; no new slot)", body = ActivationResponse),
        (status = 404, description = "NOT_FOUND: unknown, revoked or reminted key", body = ActivationResponse),
        (status = 422, description = "LIMIT_EXCEEDED, SUSPENDED, INACTIVE, EXPIRED, NOT_ASSIGNED", body = ActivationResponse),
        (status = 400, description = "INVALID_REQUEST"),
        (status = 429, description = "RATE_LIMITED"),
    )
)]
pub async fn activate(
    req: HttpRequest,
    env: web::Path<String>,
    body: ApiJson<ActivateRequest>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let env = environment(&state, &env)?;
    let body = body.0;
    let key = check_key(&body.key)?;
    let fingerprint = check_fingerprint(&body.fingerprint)?;
    check_text("name", body.name.as_deref(), 200)?;
    check_text("platform", body.platform.as_deref(), 200)?;
    if let Some(m) = &body.metadata {
        let size = serde_json::Value::Object(m.clone()).to_string().len();
        if size > license_store::limits::MAX_METADATA_BYTES {
            return Err(ApiError::InvalidRequest(format!(
                "metadata: must serialise to at most 10 KiB, got {size} bytes"
            )));
        }
    }
    let Client { ip, actor, now } = admit(&state, &req, &key)?;
    let key_for_block = key.clone();
    let env_for_abuse = env.clone();
    let fp_text = fingerprint.as_str().to_owned();
    let (answer, lease, rules) = web::block(move || -> Result<_, ApiError> {
        let settings = env.settings()?;
        let grace = settings.grace();
        let new = NewActivation {
            fingerprint: fingerprint.clone(),
            name: body.name,
            platform: body.platform,
            ip: Some(ip.to_string()),
            metadata: body.metadata,
        };
        let answer = env
            .store()
            .activate(&actor, now, &key_for_block, new, grace)?;
        let lease = match &answer.license {
            Some(l) if answer.decision.outcome.is_success() => Some(env.issue_lease(
                l,
                Some(fingerprint.as_str()),
                None,
                answer.lease_ttl,
                grace,
                now,
            )?),
            _ => None,
        };
        Ok((answer, lease, settings.abuse.clone()))
    })
    .await??;
    let outcome = answer.decision.outcome;
    if outcome == Outcome::NotFound {
        state.limiter.record_unknown(ip)?;
    }
    let rule = match (outcome, &answer.license) {
        (Outcome::LimitExceeded { .. }, Some(l)) => state
            .abuse
            .refused(&rules, l.id, &fp_text, now)
            .map(|r| (l.id, r)),
        (Outcome::Activated, Some(l)) => state.abuse.churned(&rules, l.id, now).map(|r| (l.id, r)),
        _ => None,
    };
    if let Some((license, rule)) = rule {
        suspend_for_abuse(env_for_abuse, license, rule, request_id(&req)).await;
    }
    let success = outcome.is_success();
    let body = ActivationResponse {
        code: outcome.code(),
        message: (!success).then(|| outcome.message()),
        activation: answer
            .activation
            .as_ref()
            .filter(|_| success)
            .map(public::activation),
        license: match (&answer.license, &answer.product) {
            (Some(l), Some(p)) if success => Some(public::license(l, p)),
            _ => None,
        },
        lease,
    };
    let res = HttpResponse::build(outcome_status(&outcome)).json(body);
    Ok(tagged(res, outcome.code(), &key))
}

/// Deactivates an instance, freeing its slot.
#[utoipa::path(
    post,
    path = "/v1/{env}/deactivate",
    params(("env" = String, Path, description = "Environment name")),
    request_body = DeactivateRequest,
    responses(
        (status = 200, description = "DEACTIVATED", body = ActivationResponse),
        (status = 404, description = "NOT_FOUND: no such active activation", body = ActivationResponse),
        (status = 400, description = "INVALID_REQUEST"),
        (status = 429, description = "RATE_LIMITED"),
    )
)]
pub async fn deactivate(
    req: HttpRequest,
    env: web::Path<String>,
    body: ApiJson<DeactivateRequest>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let env = environment(&state, &env)?;
    let body = body.0;
    let key = check_key(&body.key)?;
    let fingerprint = check_fingerprint(&body.fingerprint)?;
    let Client { ip, actor, now } = admit(&state, &req, &key)?;
    let key_for_block = key.clone();
    let env_for_abuse = env.clone();
    let result = web::block(move || -> Result<_, ApiError> {
        let rules = env.settings()?.abuse.clone();
        Ok((
            env.store()
                .deactivate(&actor, now, &key_for_block, &fingerprint),
            rules,
        ))
    })
    .await??;
    let (result, rules) = result;
    if let Ok(a) = &result
        && let Some(rule) = state.abuse.churned(&rules, a.license_id, now)
    {
        suspend_for_abuse(env_for_abuse, a.license_id, rule, request_id(&req)).await;
    }
    let (status, body) = match result {
        Ok(a) => (
            StatusCode::OK,
            ActivationResponse {
                code: "DEACTIVATED",
                message: None,
                activation: Some(public::activation(&a)),
                license: None,
                lease: None,
            },
        ),
        Err(license_store::StoreError::NotFound { .. }) => {
            state.limiter.record_unknown(ip)?;
            (
                StatusCode::NOT_FOUND,
                ActivationResponse {
                    code: "NOT_FOUND",
                    message: Some("No active activation for this key and fingerprint".into()),
                    activation: None,
                    license: None,
                    lease: None,
                },
            )
        }
        Err(e) => return Err(e.into()),
    };
    let code = body.code;
    Ok(tagged(HttpResponse::build(status).json(body), code, &key))
}

/// The environment's lease verification keys (active and retired).
#[utoipa::path(
    get,
    path = "/v1/{env}/keys",
    params(("env" = String, Path, description = "Environment name")),
    responses((status = 200, body = KeySet), (status = 404, description = "ENVIRONMENT_NOT_FOUND"))
)]
pub async fn keys(
    env: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let env = environment(&state, &env)?;
    let published = web::block(move || env.published_keys()).await??;
    let keys = published
        .iter()
        .map(|k| Jwk {
            kid: k.key.kid.clone(),
            alg: "EdDSA",
            crv: "Ed25519",
            x: k.key.x_b64(),
            status: k.status.clone(),
        })
        .collect();
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=60"))
        .json(KeySet { keys }))
}

/// Routes of the validation service under `/v1/{env}`: one resource each, not a scope, so they
/// can be matched first (a `/v1/{env}` scope would take `/v1/{env}/portal/…` too) — every
/// request is matched against the routes in the order they were registered.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/{env}/validate", web::post().to(validate))
        .route("/v1/{env}/activate", web::post().to(activate))
        .route("/v1/{env}/deactivate", web::post().to(deactivate))
        .route("/v1/{env}/keys", web::get().to(keys));
}
