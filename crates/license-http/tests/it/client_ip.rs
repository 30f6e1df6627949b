//! The client IP behind trusted proxies (SPEC §2, issue 17 §2): one decision for rate limits,
//! abuse rules, login throttling, audit entries and activation records; IPv6 counted per /64.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use license_http::config::RateLimits;
use license_store::both_backends;
use license_store::testkit::*;
use serde_json::{Value, json};

use crate::support::*;

const V: &str = "/v1/test/validate";
const A: &str = "/v1/test/activate";
const PROXY: &str = "10.0.0.2:40000";

fn forwarded(path: &str, body: Value, xff: &str) -> TestRequest {
    TestRequest::post()
        .uri(path)
        .insert_header(("x-forwarded-for", xff))
        .set_json(body)
}

both_backends! {
    fn activation_and_audit_record_the_forwarded_client_not_the_proxy(db) {
        block_on(async {
            let app = TestApp::new(&[db]).trusting("10.0.0.0/8");
            let lic = Fixture::new(db).assigned(db, 3);
            let key = key_of(&lic);
            // The client forged 6.6.6.6; the proxy appended the address it saw.
            let r = app.send_from(PROXY, forwarded(A, json!({"key": key, "fingerprint": "a"}), "6.6.6.6, 198.51.100.20")).await;
            assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
            // An untrusted peer's header is ignored.
            let r = app.send_from("203.0.113.50:1", forwarded(A, json!({"key": key, "fingerprint": "b"}), "198.51.100.99")).await;
            assert_eq!(r.status, StatusCode::CREATED);
            let id = lic.license.license.id;
            let mut ips: Vec<(String, Option<String>)> = db.license_activations(id, 50, None).unwrap().items.into_iter().map(|a| (a.fingerprint, a.ip)).collect();
            ips.sort();
            assert_eq!(ips, [("a".into(), Some("198.51.100.20".into())), ("b".into(), Some("203.0.113.50".into()))]);
            let filter = license_store::audit::AuditFilter { action: Some("activation.created".into()), ..Default::default() };
            let (entries, _) = db.audit_log(&filter, license_store::Page::default()).unwrap();
            let mut audit_ips: Vec<Option<String>> = entries.into_iter().map(|e| e.ip).collect();
            audit_ips.sort();
            assert_eq!(audit_ips, [Some("198.51.100.20".into()), Some("203.0.113.50".into())]);
        });
    }
}

#[test]
fn clients_behind_one_proxy_get_their_own_rate_limit_and_cannot_escape_theirs() {
    let db = TestDb::sqlite();
    block_on(async {
        let rates = RateLimits {
            per_key: None,
            per_ip: Some(2),
            unknown_per_ip: None,
        };
        let app = TestApp::with_rates(&[&db], rates).trusting("10.0.0.0/8");
        let body = || json!({"key": "NOPE-1"});
        for client in ["198.51.100.1", "198.51.100.2"] {
            for _ in 0..2 {
                let r = app.send_from(PROXY, forwarded(V, body(), client)).await;
                assert_eq!(r.status, StatusCode::NOT_FOUND, "{client}");
            }
        }
        let r = app
            .send_from(PROXY, forwarded(V, body(), "198.51.100.1"))
            .await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
        // A client prepending addresses of its own is still the address the proxy saw.
        let r = app
            .send_from(PROXY, forwarded(V, body(), "1.1.1.1, 198.51.100.2"))
            .await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
        // Without a trusted proxy, rotating X-Forwarded-For changes nothing.
        for i in 0..3 {
            let r = app
                .send_from(
                    "203.0.113.60:1",
                    forwarded(V, body(), &format!("192.0.2.{i}")),
                )
                .await;
            let want = if i < 2 {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::TOO_MANY_REQUESTS
            };
            assert_eq!(r.status, want, "request {i}");
        }
        // IPv6: one /64 is one client, whichever address of it a host picks.
        for (i, peer) in [
            "[2001:db8:5:6::1]:1",
            "[2001:db8:5:6:abcd::2]:1",
            "[2001:db8:5:6::3]:1",
        ]
        .iter()
        .enumerate()
        {
            let r = app
                .send_from(peer, TestRequest::post().uri(V).set_json(body()))
                .await;
            let want = if i < 2 {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::TOO_MANY_REQUESTS
            };
            assert_eq!(r.status, want, "{peer}");
        }
        let r = app
            .send_from(
                "[2001:db8:5:7::1]:1",
                TestRequest::post().uri(V).set_json(body()),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "another /64");
    });
}

#[test]
fn login_throttling_counts_the_forwarded_client() {
    let db = TestDb::sqlite();
    block_on(async {
        let app = TestApp::new(&[&db]).trusting("10.0.0.0/8");
        let login = |xff: &'static str, i: u32| {
            TestRequest::post()
                .uri("/v1/auth/login")
                .peer_addr(PROXY.parse().unwrap())
                .insert_header(("x-forwarded-for", xff))
                .set_json(json!({"email": format!("nobody{i}@example.com"), "password": "wrong password"}))
        };
        let free = license_http::throttle::FREE_PER_IP;
        for i in 0..free {
            let r = app.call(None, login("198.51.100.30", i)).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "attempt {i}");
        }
        let r = app.call(None, login("198.51.100.30", free)).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        let r = app.call(None, login("198.51.100.30", free + 1)).await;
        assert_eq!(
            r.status,
            StatusCode::TOO_MANY_REQUESTS,
            "the spraying client waits"
        );
        let r = app.call(None, login("198.51.100.31", 0)).await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "another client behind the same proxy does not"
        );
        let (entries, _) = app
            .control
            .control_audit(license_store::Page::default())
            .unwrap();
        assert!(
            entries
                .iter()
                .any(|e| e.ip.as_deref() == Some("198.51.100.31")),
            "failed sign-ins are audited with the client's address"
        );
    });
}
