//! Admin authentication and authorisation: `Authorization: Bearer <token>` resolved by digest in
//! the environment of the path, and one permission table for the four roles of SPEC §8.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use license_store::Actor;
use license_store::tokens::{Role, Token};

use crate::AppState;
use crate::env::Environment;
use crate::error::ApiError;
use crate::validation::{client_ip, environment, request_id};

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

/// An authenticated admin caller in one environment.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The caller's token (never its secret).
    pub token: Token,
    /// The environment of the request path.
    pub env: Arc<Environment>,
    /// For audit entries: token name, request id, client IP.
    pub actor: Actor,
}

impl Caller {
    /// Refuses with 403 unless the caller's role has `p`.
    pub fn require(&self, p: Permission) -> Result<(), ApiError> {
        if allows(self.token.role, p) {
            Ok(())
        } else {
            Err(ApiError::Forbidden {
                role: self.token.role.as_str(),
                permission: p.describe(),
            })
        }
    }
}

fn bearer(req: &HttpRequest) -> Option<String> {
    let h = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, token) = h.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let env_name = req.match_info().get("env").unwrap_or_default().to_owned();
        let secret = bearer(req);
        let rid = request_id(req);
        let ip = client_ip(req).to_string();
        Box::pin(async move {
            let state = state.ok_or(ApiError::Unavailable)?;
            let env = environment(&state, &env_name)?;
            let secret = secret.ok_or(ApiError::Unauthorized)?;
            let lookup = env.clone();
            let token = web::block(move || lookup.store().authenticate(&secret))
                .await??
                .ok_or(ApiError::Unauthorized)?;
            let actor = Actor::named(token.name.clone(), rid).with_ip(Some(ip));
            Ok(Caller { token, env, actor })
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
