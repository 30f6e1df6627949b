//! The customer portal (SPEC §14) on the validation service: the pages at `/portal/` (embedded
//! files, the console's security headers) and their API under `/v1/{env}/portal`. A customer
//! asks for a sign-in link by email, opens it, and then sees their licenses, reveals their own
//! key, frees a device slot, downloads an offline file and signs out. `KEYSMITH_PORTAL=off`
//! serves none of it.
//!
//! Who may call what: `login` and `session` (redeeming a link) anyone, rate-limited per IP and
//! per email; everything else a signed-in customer only ([`Customer`]), on their own licenses
//! only — another customer's license or device answers 404 like one that does not exist.
//! The session cookie `keysmith_portal` is HttpOnly, SameSite=Strict, scoped to its
//! environment's API path (`Path=/v1/{env}/portal`, so customers of two environments hold two
//! cookies), `Secure` behind an https public URL; unsafe requests need the CSRF header as in §11.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use license_store::portal::PortalCustomer;

use crate::AppState;
use crate::environments::Environment;
use crate::error::ApiError;
use crate::extract::{client_ip, environment, request_id};

pub mod api;

/// The portal's session cookie.
pub const PORTAL_COOKIE: &str = "keysmith_portal";

/// The portal's files, by path under `/portal/`, with their content types. A test checks that
/// every file of `web/portal/` is listed here.
pub const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_bytes!("../../../../web/portal/index.html"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_bytes!("../../../../web/portal/style.css"),
    ),
    (
        "portal.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../../web/portal/portal.js"),
    ),
];

/// Whether the portal is served, and where (`KEYSMITH_PORTAL`, `KEYSMITH_PUBLIC_VALIDATION_URL`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalSite {
    /// `KEYSMITH_PORTAL=off` turns it off.
    pub enabled: bool,
    /// The validation service's public base URL: sign-in links point there, and `https` makes
    /// the cookie `Secure`.
    pub public_url: String,
    /// Whether email is set up (`KEYSMITH_SMTP_URL`): without it no sign-in link can be sent, and
    /// asking for one says so (503) instead of queueing mail nobody sends.
    pub mail: bool,
}

impl Default for PortalSite {
    fn default() -> Self {
        Self {
            enabled: true,
            public_url: "http://127.0.0.1:8081".into(),
            mail: false,
        }
    }
}

impl PortalSite {
    /// Whether links and cookies are safe in transit: https, or a loopback address.
    pub fn secure_or_local(&self) -> bool {
        let host = self.public_url.split_once("://").map_or("", |(_, rest)| {
            rest.split(['/', ':']).next().unwrap_or_default()
        });
        self.public_url.starts_with("https://") || host == "127.0.0.1" || host == "localhost"
    }

    /// The portal's page for environment `env`.
    pub fn page(&self, env: &str) -> String {
        crate::workers::mail_delivery::portal_url(&self.public_url, env)
    }
}

/// A signed-in customer of the path's environment.
#[derive(Debug, Clone)]
pub struct Customer {
    /// Who.
    pub customer: PortalCustomer,
    /// The environment.
    pub env: Arc<Environment>,
    /// `customer:<email>`, with the request id and client IP, for audit entries.
    pub actor: license_store::Actor,
    /// The cookie's secret (sign-out ends this session).
    pub(crate) secret: String,
}

impl Customer {
    /// Runs a store call for this customer on the blocking pool, with the customer's id, the
    /// customer as actor, and the time now.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        state: &AppState,
        f: impl FnOnce(
            &license_store::Store,
            uuid::Uuid,
            &license_store::Actor,
            time::OffsetDateTime,
        ) -> license_store::StoreResult<T>
        + Send
        + 'static,
    ) -> Result<T, ApiError> {
        let (env, id, actor, now) = (
            self.env.clone(),
            self.customer.id,
            self.actor.clone(),
            state.clock.now(),
        );
        Ok(web::block(move || f(env.store(), id, &actor, now)).await??)
    }
}

impl FromRequest for Customer {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let env_name = req.match_info().get("env").unwrap_or_default().to_owned();
        let secret = req
            .cookie(PORTAL_COOKIE)
            .map(|c| c.value().to_owned())
            .filter(|v| !v.is_empty());
        let csrf = secret
            .as_deref()
            .map_or(Ok(()), |s| crate::auth::check_csrf(req, s));
        let (rid, ip) = (request_id(req), client_ip(req));
        Box::pin(async move {
            let state = state.ok_or(ApiError::Unavailable)?;
            let env = environment(&state, &env_name)?;
            state.limiter.check_ip(ip)?;
            let secret = secret.ok_or(ApiError::Unauthorized)?;
            csrf?;
            let now = state.clock.now();
            let (store_env, s) = (env.clone(), secret.clone());
            let customer = web::block(move || store_env.store().portal_session(now, &s)).await??;
            let Some(customer) = customer else {
                // A cookie that opens nothing counts like an unknown key: guessing is slowed.
                state.limiter.record_unknown(ip)?;
                return Err(ApiError::Unauthorized);
            };
            let actor = customer.actor(&rid, Some(ip.to_string()));
            Ok(Self {
                customer,
                env,
                actor,
                secret,
            })
        })
    }
}

/// `GET /portal/{path}`: a file, or the page shell for any other path (a page of the portal).
async fn serve(req: HttpRequest) -> actix_web::HttpResponse {
    let path = req.match_info().get("path").unwrap_or_default();
    crate::console::serve_from(ASSETS, path)
}

/// `/portal` → `/portal/`.
async fn redirect() -> actix_web::HttpResponse {
    crate::console::redirect_to("/portal/")
}

/// Routes of the portal: its pages and its API.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/portal", web::get().to(redirect))
        .route("/portal/{path:.*}", web::get().to(serve))
        .configure(api::configure);
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_file_of_web_portal_is_embedded() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/portal");
        let files: Vec<String> = std::fs::read_dir(root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        for f in &files {
            assert!(
                super::ASSETS.iter().any(|(p, _, _)| p == f),
                "web/portal/{f} is not listed in portal::ASSETS"
            );
        }
        assert_eq!(files.len(), super::ASSETS.len());
    }
}
