//! `TestApp`, the one harness of every HTTP test (crates.io's shape): both services in-process
//! over test databases (each an environment, SQLite or PostgreSQL), rate limits off unless asked,
//! and an admin token on request:
//!
//! ```ignore
//! let app = TestApp::new(&[db]).with_token();
//! let r = app.req("POST", "/products", Some(json!({"name": "Acme", "code": "ACME"}))).await;
//! let v = app.post("/v1/test/validate", json!({"key": key})).await;
//! ```

use actix_web::http::StatusCode;
use actix_web::http::header::HeaderMap;
use actix_web::test::{self, TestRequest};
use license_core::PublicKey;
use license_http::config::RateLimits;
use license_http::egress::WebhookPolicy;
use std::sync::{Arc, Mutex};

use license_http::{Clock, Environments, Operators, Shared, admin_app, validation_app};
use license_store::Store;
use license_store::testkit::{TestControlDb, TestDb, admin, now};
use license_store::tokens::Role;
use serde_json::Value;
use time::OffsetDateTime;

/// Runs an async test body on an actix system.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    actix_web::rt::System::new().block_on(f)
}

/// The admin service's public validation URL in tests (it shows in code samples).
pub const PUBLIC_VALIDATION_URL: &str = "https://licensing.example.com";
/// The admin service's public URL in tests (https: cookies are `Secure`).
pub const PUBLIC_ADMIN_URL: &str = "https://keysmith.example.com";
/// The one origin the admin service's CORS lets in, in tests.
pub const CONSOLE_ORIGIN: &str = "https://admin.example.com";

/// Both services over the same environments, with a control database on the first
/// environment's backend and a clock the test moves.
pub struct TestApp {
    validation: Shared,
    admin: Shared,
    /// The first environment's store (where `with_token` puts its token).
    store: Store,
    /// The admin token `root` (role admin) of the first environment, after [`TestApp::with_token`].
    pub token: String,
    /// Operators and sessions.
    pub control: TestControlDb,
    clock: Arc<Mutex<OffsetDateTime>>,
}

/// A response, read.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    /// The JSON body; a body that is not JSON is a string, an empty one null.
    pub body: Value,
    pub headers: HeaderMap,
}

fn no_limits() -> RateLimits {
    RateLimits {
        per_key: None,
        per_ip: None,
        unknown_per_ip: None,
    }
}

impl TestApp {
    /// Both services over `dbs` (each an environment, with a signing key), limits off.
    pub fn new(dbs: &[&TestDb]) -> Self {
        Self::with_rates(dbs, no_limits())
    }

    /// Both services over `dbs`, with these validation rate limits.
    pub fn with_rates(dbs: &[&TestDb], rates: RateLimits) -> Self {
        for db in dbs {
            db.ensure_signing_key(now()).unwrap();
        }
        let envs = Environments::from_stores(dbs.iter().map(|d| d.store.clone()));
        let control = dbs[0].control();
        let clock = Arc::new(Mutex::new(OffsetDateTime::now_utc()));
        let read = clock.clone();
        let read_validation = clock.clone();
        let operators = Operators::new(control.store.clone(), PUBLIC_ADMIN_URL).unwrap();
        Self {
            validation: Shared::validation_at(
                envs.clone(),
                rates,
                Clock::from_fn(move || *read_validation.lock().unwrap()),
            )
            .with_portal(license_http::portal::PortalSite {
                enabled: true,
                public_url: PUBLIC_VALIDATION_URL.into(),
                mail: true,
            }),
            // The receivers of the webhook tests listen on loopback.
            admin: Shared::admin(
                envs,
                operators,
                PUBLIC_VALIDATION_URL,
                Clock::from_fn(move || *read.lock().unwrap()),
            )
            .with_webhook_policy(WebhookPolicy::allow_private()),
            store: dbs[0].store.clone(),
            token: String::new(),
            control,
            clock,
        }
    }

    /// The same services with this webhook address policy on the admin side (the harness
    /// allows private addresses, as `KEYSMITH_WEBHOOK_ALLOW_PRIVATE=1` does).
    pub fn with_webhook_policy(mut self, policy: WebhookPolicy) -> Self {
        self.admin = self.admin.with_webhook_policy(policy);
        self
    }

    /// Both services believe the forwarding headers of `proxies` (a `KEYSMITH_TRUSTED_PROXIES`
    /// value).
    pub fn trusting(mut self, proxies: &str) -> Self {
        let ips = license_http::net::ClientIps::parse(proxies).unwrap();
        self.validation = self.validation.with_client_ips(ips.clone());
        self.admin = self.admin.with_client_ips(ips);
        self
    }

    /// The services' environments (for running a worker pass in a test).
    pub fn environments(&self) -> Environments {
        self.validation.state().envs.clone()
    }

    /// The validation service with the customer portal on or off (`KEYSMITH_PORTAL`), with or
    /// without email (`KEYSMITH_SMTP_URL`).
    pub fn portal(mut self, enabled: bool, mail: bool) -> Self {
        self.validation = self
            .validation
            .with_portal(license_http::portal::PortalSite {
                enabled,
                public_url: PUBLIC_VALIDATION_URL.into(),
                mail,
            });
        self
    }

    /// The admin service's time.
    pub fn now(&self) -> OffsetDateTime {
        *self.clock.lock().unwrap()
    }

    /// Moves the admin service's clock.
    pub fn advance(&self, by: time::Duration) {
        *self.clock.lock().unwrap() += by;
    }

    /// Creates the admin token `root` (role admin) in the first environment.
    pub fn with_token(mut self) -> Self {
        self.token = self.create_token("root", Role::Admin);
        self
    }

    /// Creates a token in the first environment and returns its secret.
    pub fn create_token(&self, name: &str, role: Role) -> String {
        self.store
            .create_token(&admin(), now(), name, role)
            .unwrap()
            .1
    }

    // ---- the validation service ------------------------------------------------------------

    /// Sends `req` to the validation service from a fixed client address.
    pub async fn send(&self, req: TestRequest) -> Reply {
        self.send_from("203.0.113.7:5000", req).await
    }

    /// Sends `req` to the validation service from TCP peer `peer` (`ip:port`).
    pub async fn send_from(&self, peer: &str, req: TestRequest) -> Reply {
        let app = test::init_service(validation_app(self.validation.clone())).await;
        let res = test::call_service(&app, req.peer_addr(peer.parse().unwrap()).to_request()).await;
        read(res).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(TestRequest::post().uri(path).set_json(body))
            .await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(TestRequest::get().uri(path)).await
    }

    /// The published keys of `env`, as a verifier would read them.
    pub async fn public_keys(&self, env: &str) -> Vec<PublicKey> {
        let r = self.get(&format!("/v1/{env}/keys")).await;
        assert_eq!(r.status, StatusCode::OK);
        r.body["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| {
                assert_eq!(
                    (k["alg"].as_str(), k["crv"].as_str()),
                    (Some("EdDSA"), Some("Ed25519"))
                );
                PublicKey::from_b64(k["kid"].as_str().unwrap(), k["x"].as_str().unwrap()).unwrap()
            })
            .collect()
    }

    // ---- the admin service -----------------------------------------------------------------

    /// Sends `req` to the admin service with `token` (or none) as bearer.
    pub async fn call(&self, token: Option<&str>, req: TestRequest) -> Reply {
        let app =
            test::init_service(admin_app(self.admin.clone(), vec![CONSOLE_ORIGIN.into()])).await;
        let req = match token {
            Some(t) => req.insert_header(("authorization", format!("Bearer {t}"))),
            None => req,
        };
        read(test::call_service(&app, req.to_request()).await).await
    }

    /// Sends `req` to the admin service as `root`.
    pub async fn admin(&self, req: TestRequest) -> Reply {
        self.call(Some(&self.token), req).await
    }

    /// `method path` under `/v1/test` as `root`, with an optional JSON body.
    pub async fn req(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        self.as_token(&self.token, method, path, body).await
    }

    /// `method path` under `/v1/test` with `token`, with an optional JSON body.
    pub async fn as_token(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        let uri = format!("/v1/test{path}");
        let req = match method {
            "GET" => TestRequest::get(),
            "POST" => TestRequest::post(),
            "PATCH" => TestRequest::patch(),
            "PUT" => TestRequest::put(),
            "DELETE" => TestRequest::delete(),
            other => panic!("method {other}"),
        }
        .uri(&uri);
        let req = match body {
            Some(b) => req.set_json(b),
            None => req,
        };
        self.call(Some(token), req).await
    }
}

impl Reply {
    /// The error code of an error body (`""` for any other body).
    pub fn error_code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }

    /// The body as text (a JSON body re-serialised).
    pub fn text(&self) -> String {
        match &self.body {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            v => v.to_string(),
        }
    }
}

async fn read(res: actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>) -> Reply {
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = test::read_body(res).await;
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Reply {
        status,
        body,
        headers,
    }
}

/// A signed-in browser: its session cookie's secret and its CSRF token.
#[derive(Debug, Clone)]
pub struct Browser {
    pub cookie: String,
    pub csrf: String,
}

impl TestApp {
    /// Creates an operator with a password and these roles, straight in the control database.
    pub fn operator(
        &self,
        email: &str,
        password: &str,
        roles: &[(&str, Role)],
    ) -> license_store::control::Operator {
        let new = license_store::control::NewOperator {
            email: email.into(),
            name: email.into(),
            password_hash: Some(license_http::credentials::hash_password(password).unwrap()),
            roles: roles.iter().map(|(e, r)| ((*e).to_owned(), *r)).collect(),
        };
        self.control.create_operator(&admin(), now(), new).unwrap()
    }

    /// `POST /v1/auth/login`; the browser when it worked.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        totp: Option<&str>,
    ) -> (Reply, Option<Browser>) {
        let mut body = serde_json::json!({"email": email, "password": password});
        if let Some(code) = totp {
            body["totp"] = code.into();
        }
        let r = self
            .call(
                None,
                TestRequest::post().uri("/v1/auth/login").set_json(body),
            )
            .await;
        let browser = session_cookie(&r).map(|cookie| Browser {
            cookie,
            csrf: r.body["csrf_token"].as_str().unwrap_or_default().to_owned(),
        });
        (r, browser)
    }

    /// `GET /v1/auth/me` as `browser`.
    pub async fn me(&self, browser: &Browser) -> Reply {
        self.as_browser(browser, false, TestRequest::get().uri("/v1/auth/me"))
            .await
    }

    /// Sends `req` to the admin service as `browser` (cookie and, when `csrf`, its CSRF token).
    pub async fn as_browser(&self, browser: &Browser, csrf: bool, req: TestRequest) -> Reply {
        let req = req.cookie(actix_web::cookie::Cookie::new(
            license_http::auth::SESSION_COOKIE,
            browser.cookie.clone(),
        ));
        let req = if csrf {
            req.insert_header((license_http::auth::CSRF_HEADER, browser.csrf.clone()))
        } else {
            req
        };
        self.call(None, req).await
    }
}

/// The session secret a response sets, if it sets one.
pub fn session_cookie(r: &Reply) -> Option<String> {
    let header = r.headers.get("set-cookie")?.to_str().ok()?;
    let c = actix_web::cookie::Cookie::parse(header.to_owned()).ok()?;
    (c.name() == license_http::auth::SESSION_COOKIE && !c.value().is_empty())
        .then(|| c.value().to_owned())
}
