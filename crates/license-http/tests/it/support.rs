//! `TestApp`: a validation app over test databases, and request helpers.

use actix_web::http::StatusCode;
use actix_web::test;
use license_core::PublicKey;
use license_http::config::RateLimits;
use license_http::{Environments, Shared, validation_app};
use license_store::testkit::{TestDb, now};
use serde_json::Value;

/// Runs an async test body on an actix system.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    actix_web::rt::System::new().block_on(f)
}

pub struct TestApp {
    pub shared: Shared,
}

/// A response, read.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub headers: actix_web::http::header::HeaderMap,
}

impl TestApp {
    /// An app serving the given databases (each an environment), with limits off.
    pub fn new(dbs: &[&TestDb]) -> Self {
        Self::with_rates(
            dbs,
            RateLimits {
                per_key: None,
                per_ip: None,
                unknown_per_ip: None,
            },
        )
    }

    pub fn with_rates(dbs: &[&TestDb], rates: RateLimits) -> Self {
        for db in dbs {
            db.ensure_signing_key(now()).unwrap();
        }
        let envs = Environments::from_stores(dbs.iter().map(|d| d.store.clone()));
        Self {
            shared: Shared::validation(envs, rates),
        }
    }

    pub async fn send(&self, req: test::TestRequest) -> Reply {
        let app = test::init_service(validation_app(self.shared.clone())).await;
        let res = test::call_service(
            &app,
            req.peer_addr("203.0.113.7:5000".parse().unwrap())
                .to_request(),
        )
        .await;
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = test::read_body(res).await;
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Reply {
            status,
            body,
            headers,
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(test::TestRequest::post().uri(path).set_json(body))
            .await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(test::TestRequest::get().uri(path)).await
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
}
