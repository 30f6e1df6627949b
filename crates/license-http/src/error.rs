//! `ApiError`: the one place where failures become HTTP statuses, SPEC codes and messages.
//!
//! The body is `{"error":{"code","message","request_id", ...}}`. The request id is added by the
//! telemetry middleware, which knows it; `error_response` leaves the payload in the response's
//! extensions for it.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use license_store::StoreError;
use serde_json::{Value, json};

/// Every error an HTTP handler can answer with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 `INVALID_REQUEST`: malformed JSON, unknown or missing fields, bad values.
    #[error("{0}")]
    InvalidRequest(String),
    /// 404 `ENVIRONMENT_NOT_FOUND`.
    #[error("environment {0:?} does not exist")]
    EnvironmentNotFound(String),
    /// 404 `NOT_FOUND`.
    #[error("{0} not found")]
    NotFound(String),
    /// 413 `PAYLOAD_TOO_LARGE`.
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// 415 `UNSUPPORTED_MEDIA_TYPE`.
    #[error("send the body as application/json")]
    UnsupportedMediaType,
    /// 429 `RATE_LIMITED`, with `Retry-After`.
    #[error("too many requests; retry after {retry_after_secs} s")]
    RateLimited {
        /// Whole seconds until a retry can succeed.
        retry_after_secs: u64,
    },
    /// 401 `UNAUTHORIZED`.
    #[error("sign in, or send a valid bearer token")]
    Unauthorized,
    /// 401 `INVALID_CREDENTIALS`: wrong email, wrong password or wrong code — never which.
    #[error("the email, password or code is not right")]
    InvalidCredentials,
    /// 401 `TOTP_REQUIRED`: the password was right; this operator also needs a TOTP code.
    #[error("enter the 6-digit code from your authenticator app")]
    TotpRequired,
    /// 403 `CSRF_FAILED`: a cookie-authenticated unsafe request without the session's CSRF token.
    #[error("send the X-Keysmith-CSRF header with the csrf_token from login or /v1/auth/me")]
    CsrfFailed,
    /// 403 `REAUTH_REQUIRED`: enter the password again (`POST /v1/auth/reauth`) first.
    #[error(
        "enter your password again to do this (POST /v1/auth/reauth); it stays valid 5 minutes"
    )]
    ReauthRequired,
    /// 403 `FORBIDDEN`.
    #[error("the {role} role may not {permission}")]
    Forbidden {
        /// The caller's role.
        role: &'static str,
        /// What was refused.
        permission: &'static str,
    },
    /// 403 `FORBIDDEN`: the operator has no role in this environment.
    #[error("you have no role in environment {0:?}; an admin can grant one")]
    NoAccess(String),
    /// A store failure, mapped per variant.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// 405 `METHOD_NOT_ALLOWED`: a known path, another method; `Allow` lists the methods it has.
    #[error("{method} is not allowed here; this path answers {}", allow.join(", "))]
    MethodNotAllowed {
        /// The method that was asked for.
        method: String,
        /// The methods the path answers, upper case.
        allow: Vec<String>,
    },
    /// 410 `GONE`: something handed out once was already taken (a job's keys).
    #[error("{0}")]
    Gone(String),
    /// 500 `INTERNAL`: something that should not fail did (logged; the client sees no detail).
    #[error("internal error: {0}")]
    Internal(String),
    /// 409 `OFFLINE_FILE_REFUSED`: the license would not validate now (`reason`: the code it
    /// would get, e.g. `REVOKED`), so no offline file promises otherwise.
    #[error("this license would not validate now ({0}), so there is no offline file for it")]
    OfflineFileRefused(&'static str),
    /// 503 `UNAVAILABLE`: the portal cannot mail sign-in links (no `KEYSMITH_SMTP_URL`).
    #[error("sign-in by email is not set up on this server; ask the vendor for help")]
    EmailOff,
    /// 503 `UNAVAILABLE` (with `Retry-After`): the blocking pool is gone (shutting down). A
    /// database that cannot be reached is `Store(Pool | Unavailable)`, answered the same way.
    #[error("service is shutting down")]
    Unavailable,
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(_: actix_web::error::BlockingError) -> Self {
        Self::Unavailable
    }
}

impl ApiError {
    /// Status, code, and extra fields of the body.
    fn parts(&self) -> (StatusCode, &'static str, Value) {
        use StatusCode as S;
        let none = Value::Null;
        match self {
            Self::InvalidRequest(_) => (S::BAD_REQUEST, "INVALID_REQUEST", none),
            Self::EnvironmentNotFound(_) => (S::NOT_FOUND, "ENVIRONMENT_NOT_FOUND", none),
            Self::NotFound(_) => (S::NOT_FOUND, "NOT_FOUND", none),
            Self::PayloadTooLarge(_) => (S::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", none),
            Self::UnsupportedMediaType => {
                (S::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE", none)
            }
            Self::RateLimited { .. } => (S::TOO_MANY_REQUESTS, "RATE_LIMITED", none),
            Self::MethodNotAllowed { .. } => (S::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", none),
            Self::Unauthorized => (S::UNAUTHORIZED, "UNAUTHORIZED", none),
            Self::InvalidCredentials => (S::UNAUTHORIZED, "INVALID_CREDENTIALS", none),
            Self::TotpRequired => (S::UNAUTHORIZED, "TOTP_REQUIRED", none),
            Self::CsrfFailed => (S::FORBIDDEN, "CSRF_FAILED", none),
            Self::ReauthRequired => (S::FORBIDDEN, "REAUTH_REQUIRED", none),
            Self::Forbidden { .. } | Self::NoAccess(_) => (S::FORBIDDEN, "FORBIDDEN", none),
            Self::Unavailable | Self::EmailOff => (S::SERVICE_UNAVAILABLE, "UNAVAILABLE", none),
            Self::Gone(_) => (S::GONE, "GONE", none),
            Self::OfflineFileRefused(reason) => (
                S::CONFLICT,
                "OFFLINE_FILE_REFUSED",
                json!({"reason": reason}),
            ),
            Self::Internal(_) => (S::INTERNAL_SERVER_ERROR, "INTERNAL", none),
            Self::Store(e) => match e {
                StoreError::NotFound { .. } => (S::NOT_FOUND, "NOT_FOUND", none),
                StoreError::Invalid { field, .. } => (
                    S::UNPROCESSABLE_ENTITY,
                    "INVALID_FIELD",
                    json!({"field": field}),
                ),
                StoreError::WeakKeyFormat(_) => (
                    S::UNPROCESSABLE_ENTITY,
                    "WEAK_KEY_FORMAT",
                    json!({"field": "format"}),
                ),
                StoreError::Duplicate { field } => {
                    (S::CONFLICT, "DUPLICATE", json!({"field": field}))
                }
                StoreError::InUse { .. } => (S::CONFLICT, "IN_USE", none),
                StoreError::InvalidTransition(t) => (
                    S::CONFLICT,
                    "INVALID_TRANSITION",
                    json!({"from": t.from.as_str(), "action": t.action.as_str()}),
                ),
                StoreError::NotEditable { .. } => (S::CONFLICT, "LICENSE_NOT_EDITABLE", none),
                StoreError::Immutable { field } => (
                    S::UNPROCESSABLE_ENTITY,
                    "IMMUTABLE_FIELD",
                    json!({"field": field}),
                ),
                StoreError::HasActivations => (S::CONFLICT, "LICENSE_HAS_ACTIVATIONS", none),
                StoreError::LastAdmin { environment } => (
                    S::CONFLICT,
                    "LAST_ADMIN",
                    json!({"environment": environment}),
                ),
                StoreError::LinkInvalid => (S::GONE, "LINK_INVALID", none),
                StoreError::Pool(_) | StoreError::Unavailable(_) => {
                    (S::SERVICE_UNAVAILABLE, "UNAVAILABLE", none)
                }
                StoreError::RolledBack
                | StoreError::Corrupt(_)
                | StoreError::Config(_)
                | StoreError::Migration(_)
                | StoreError::Database(_) => (S::INTERNAL_SERVER_ERROR, "INTERNAL", none),
            },
        }
    }

    /// The SPEC code.
    pub fn code(&self) -> &'static str {
        self.parts().1
    }

    fn message(&self) -> String {
        match self {
            // Never echo database internals to a client; they are logged instead.
            Self::Internal(_)
            | Self::Store(
                StoreError::RolledBack
                | StoreError::Corrupt(_)
                | StoreError::Config(_)
                | StoreError::Migration(_)
                | StoreError::Database(_),
            ) => "internal error; see the server log for this request id".into(),
            Self::Store(StoreError::Pool(_) | StoreError::Unavailable(_)) => {
                "database unavailable; retry shortly".into()
            }
            other => other.to_string(),
        }
    }
}

/// The error body as built by `error_response`, before the middleware adds the request id.
#[derive(Debug, Clone)]
pub struct ErrorPayload(pub Value);

/// The outcome code of a response, for logs and metrics.
#[derive(Debug, Clone, Copy)]
pub struct OutcomeCode(pub &'static str);

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.parts().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, code, extra) = self.parts();
        // A database outage is logged once by the database probe, not once per request (the
        // request's own log line still shows its 503).
        if status.is_server_error() && code != "UNAVAILABLE" {
            tracing::error!(error = %self, code, "request failed");
        }
        let mut error = json!({"code": code, "message": self.message()});
        if let (Value::Object(e), Value::Object(x)) = (&mut error, extra) {
            e.extend(x);
        }
        let payload = json!({ "error": error });
        let mut res = HttpResponse::build(status);
        if let Self::RateLimited { retry_after_secs } = self {
            res.insert_header(("Retry-After", retry_after_secs.to_string()));
        }
        if code == "UNAVAILABLE" {
            // The database probe looks again every 200 ms; a second is the shortest whole wait.
            res.insert_header(("Retry-After", "1"));
        }
        if let Self::MethodNotAllowed { allow, .. } = self {
            res.insert_header(("Allow", allow.join(", ")));
        }
        let mut res = res.json(&payload);
        res.extensions_mut().insert(ErrorPayload(payload));
        res.extensions_mut().insert(OutcomeCode(code));
        res
    }
}

/// Maps path and query extractor failures.
pub fn query_error(
    err: actix_web::error::QueryPayloadError,
    _: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::InvalidRequest(format!("invalid query string: {err}")).into()
}

/// Maps path parameter failures (an id that is not a UUID). A path the document names with
/// other methods (`PATCH /licenses/export.csv` fell into `PATCH /licenses/{id}`) is 405.
pub fn path_error(
    err: actix_web::error::PathError,
    req: &actix_web::HttpRequest,
) -> actix_web::Error {
    let doc = req.app_data::<actix_web::web::Data<crate::document::OpenApiJson>>();
    if let Some(allow) = doc.and_then(|d| d.exact_methods(req.path()))
        && !allow.iter().any(|m| m == req.method().as_str())
    {
        return ApiError::MethodNotAllowed {
            method: req.method().to_string(),
            allow: allow.to_vec(),
        }
        .into();
    }
    ApiError::InvalidRequest(format!("invalid path: {err}")).into()
}
