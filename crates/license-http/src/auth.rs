//! Admin authentication and authorisation: `Authorization: Bearer <token>` resolved by digest in
//! the environment of the path, or the operator's session cookie (SPEC §11, with its CSRF header
//! on unsafe methods and the operator's role in the path's environment), and one permission table
//! for the four roles of SPEC §8 that decides for both.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::Method;
use actix_web::{FromRequest, HttpRequest, web};
use license_store::Actor;
use license_store::control::Session;
use license_store::tokens::{Role, Token};
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::environments::Environment;
use crate::error::ApiError;
use crate::extract::{client_ip, environment, request_id};

/// What a route needs the caller to be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Read anything (every role).
    Read,
    /// Preview a license: offline file and code samples.
    Preview,
    /// Assign a license to a customer.
    Assign,
    /// Inactivate and reactivate a license.
    Pause,
    /// Deactivate one activation.
    DeactivateActivation,
    /// Create, edit and delete products, generators and customers.
    ManageCatalog,
    /// Create, edit, suspend, revoke, remint, delete and bulk-mint licenses.
    ManageLicenses,
    /// Read a license's full key back.
    Reveal,
    /// Export and import licenses.
    ExportImport,
    /// Admin tokens, settings and webhooks.
    Administer,
}

impl Permission {
    /// Words for the 403 message.
    pub const fn describe(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Preview => "preview licenses",
            Self::Assign => "assign licenses",
            Self::Pause => "inactivate or reactivate licenses",
            Self::DeactivateActivation => "deactivate activations",
            Self::ManageCatalog => "manage products, generators and customers",
            Self::ManageLicenses => "manage licenses",
            Self::Reveal => "reveal license keys",
            Self::ExportImport => "export or import licenses",
            Self::Administer => "manage tokens, settings and webhooks",
        }
    }
}

/// The permission table of SPEC §8: `admin` everything; `manager` the "License Management"
/// permission; `support` read, assign, inactivate/reactivate, deactivate an activation, preview;
/// `viewer` read.
pub const fn allows(role: Role, p: Permission) -> bool {
    use Permission as P;
    match role {
        Role::Admin => true,
        Role::Manager => !matches!(p, P::Administer),
        Role::Support => matches!(
            p,
            P::Read | P::Preview | P::Assign | P::Pause | P::DeactivateActivation
        ),
        Role::Viewer => matches!(p, P::Read),
    }
}

/// The session cookie (SPEC §11).
pub const SESSION_COOKIE: &str = "keysmith_session";
/// The header that carries the session's CSRF token on unsafe cookie-authenticated requests.
pub const CSRF_HEADER: &str = "x-keysmith-csrf";
/// How long a password entry lets a session reveal keys and preview licenses, when the
/// `reveal_requires_reauth` setting asks for it.
pub const REAUTH_WINDOW: time::Duration = time::Duration::minutes(5);

/// The CSRF token of the session whose cookie secret is `secret`: derived, so nothing more is
/// stored, and unguessable without the cookie.
pub fn csrf_token(secret: &str) -> String {
    let digest = Sha256::digest(format!("keysmith/csrf/v1:{secret}").as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// Who is calling: a program with a token, or a person with a session.
#[derive(Debug, Clone)]
pub enum Principal {
    /// An admin token of the path's environment (never its secret).
    Token(Token),
    /// A signed-in operator.
    Session(Session),
}

/// An authenticated admin caller in one environment: a token of that environment, or an
/// operator session with a role there. One permission table decides for both.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who it is.
    pub principal: Principal,
    /// Its role in this environment.
    pub role: Role,
    /// The environment of the request path.
    pub env: Arc<Environment>,
    /// For audit entries: `token:<name>` or `operator:<email>`, request id, client IP.
    pub actor: Actor,
}

impl Caller {
    /// Refuses with 403 unless the caller's role has `p`.
    pub fn require(&self, p: Permission) -> Result<(), ApiError> {
        if allows(self.role, p) {
            Ok(())
        } else {
            Err(ApiError::Forbidden {
                role: self.role.as_str(),
                permission: p.describe(),
            })
        }
    }

    /// For `reveal` and `preview`: a session must have entered its password within
    /// [`REAUTH_WINDOW`] of `now` when the environment's `reveal_requires_reauth` setting is on
    /// (403 `REAUTH_REQUIRED`). Tokens are exempt.
    pub async fn require_recent_password(&self, now: time::OffsetDateTime) -> Result<(), ApiError> {
        let Principal::Session(session) = &self.principal else {
            return Ok(());
        };
        let env = self.env.clone();
        let settings = web::block(move || env.settings()).await??;
        if settings.reveal_requires_reauth && now - session.reauth_at > REAUTH_WINDOW {
            return Err(ApiError::ReauthRequired);
        }
        Ok(())
    }
}

fn bearer(req: &HttpRequest) -> Option<String> {
    let h = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, token) = h.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

/// The credentials a request presents.
enum Presented {
    Token(String),
    Cookie(String),
    Nothing,
}

fn presented(req: &HttpRequest) -> Result<Presented, ApiError> {
    let cookie = req
        .cookie(SESSION_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty());
    match (bearer(req), cookie) {
        (Some(_), Some(_)) => Err(ApiError::InvalidRequest(
            "authorization: send a session cookie or a bearer token, not both".into(),
        )),
        (Some(t), None) => Ok(Presented::Token(t)),
        (None, Some(c)) => Ok(Presented::Cookie(c)),
        (None, None) => Ok(Presented::Nothing),
    }
}

/// An unsafe method (anything but GET, HEAD, OPTIONS) on cookie auth needs the CSRF header.
pub(crate) fn check_csrf(req: &HttpRequest, secret: &str) -> Result<(), ApiError> {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let sent = req
        .headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let expected = csrf_token(secret);
    let same = sent.len() == expected.len()
        && sent
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if same {
        Ok(())
    } else {
        Err(ApiError::CsrfFailed)
    }
}

/// The live session of a cookie secret (401 when there is none).
async fn session_of(state: &AppState, secret: String) -> Result<Session, ApiError> {
    let operators = state.operators.as_ref().ok_or(ApiError::Unauthorized)?;
    let control = operators.control.clone();
    let now = state.clock.now();
    web::block(move || control.session(&secret, now))
        .await??
        .ok_or(ApiError::Unauthorized)
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let env_name = req.match_info().get("env").unwrap_or_default().to_owned();
        let presented = presented(req).and_then(|p| match p {
            Presented::Cookie(secret) => {
                check_csrf(req, &secret).map(|()| Presented::Cookie(secret))
            }
            other => Ok(other),
        });
        let rid = request_id(req);
        let ip = client_ip(req).to_string();
        Box::pin(async move {
            let state = state.ok_or(ApiError::Unavailable)?;
            let env = environment(&state, &env_name)?;
            let (role, name, principal) = match presented? {
                Presented::Nothing => return Err(ApiError::Unauthorized),
                Presented::Token(secret) => {
                    let (lookup, now) = (env.clone(), state.clock.now());
                    let token = web::block(move || lookup.store().authenticate(&secret, now))
                        .await??
                        .ok_or(ApiError::Unauthorized)?;
                    let name = format!("token:{}", token.name);
                    (token.role, name, Principal::Token(token))
                }
                Presented::Cookie(secret) => {
                    let session = session_of(&state, secret).await?;
                    let role = *session
                        .operator
                        .roles
                        .get(env.name())
                        .ok_or_else(|| ApiError::NoAccess(env.name().to_owned()))?;
                    (
                        role,
                        session.operator.actor_name(),
                        Principal::Session(session),
                    )
                }
            };
            let actor = Actor::named(name, rid).with_ip(Some(ip));
            Ok(Caller {
                principal,
                role,
                env,
                actor,
            })
        })
    }
}

/// A signed-in operator outside any environment (`/v1/auth/*`, `/v1/operators`): session
/// cookie only, with the CSRF header on unsafe methods.
#[derive(Debug, Clone)]
pub struct SessionCaller {
    /// The session and its operator.
    pub session: Session,
    /// The session's CSRF token (returned by `me`).
    pub csrf_token: String,
    /// For audit entries: `operator:<email>`, request id, client IP.
    pub actor: Actor,
}

impl SessionCaller {
    /// Refuses (403) unless the operator is admin in every one of `environments`.
    pub fn require_admin_in<'a>(
        &self,
        environments: impl IntoIterator<Item = &'a String>,
    ) -> Result<(), ApiError> {
        for env in environments {
            if self.session.operator.roles.get(env) != Some(&Role::Admin) {
                return Err(ApiError::Forbidden {
                    role: self
                        .session
                        .operator
                        .roles
                        .get(env)
                        .map_or("no", |r| r.as_str()),
                    permission: "manage operators with roles in this environment",
                });
            }
        }
        Ok(())
    }
}

impl FromRequest for SessionCaller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let secret = presented(req).and_then(|p| match p {
            Presented::Cookie(secret) => check_csrf(req, &secret).map(|()| secret),
            Presented::Token(_) | Presented::Nothing => Err(ApiError::Unauthorized),
        });
        let rid = request_id(req);
        let ip = client_ip(req).to_string();
        Box::pin(async move {
            let state = state.ok_or(ApiError::Unavailable)?;
            let secret = secret?;
            let csrf_token = csrf_token(&secret);
            let session = session_of(&state, secret).await?;
            let actor = Actor::named(session.operator.actor_name(), rid).with_ip(Some(ip));
            Ok(SessionCaller {
                session,
                csrf_token,
                actor,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Permission as P;

    #[test]
    fn the_permission_table_matches_the_spec() {
        let all = [
            P::Read,
            P::Preview,
            P::Assign,
            P::Pause,
            P::DeactivateActivation,
            P::ManageCatalog,
            P::ManageLicenses,
            P::Reveal,
            P::ExportImport,
            P::Administer,
        ];
        let granted = |role| all.iter().filter(|p| allows(role, **p)).count();
        assert_eq!(granted(Role::Admin), all.len());
        assert_eq!(granted(Role::Manager), all.len() - 1);
        assert!(!allows(Role::Manager, P::Administer));
        for p in [
            P::Read,
            P::Preview,
            P::Assign,
            P::Pause,
            P::DeactivateActivation,
        ] {
            assert!(allows(Role::Support, p));
        }
        for p in [
            P::ManageCatalog,
            P::ManageLicenses,
            P::Reveal,
            P::ExportImport,
            P::Administer,
        ] {
            assert!(!allows(Role::Support, p));
        }
        assert_eq!(granted(Role::Viewer), 1);
    }
}
