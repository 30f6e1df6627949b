//! Issue 17 §6 and §8 over HTTP: reserved actor names, client request ids, the preview's offline
//! file audited and bound to a device, retention that keeps security events, and the headers of
//! every response (`no-store`, `nosniff`).

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use license_core::lease::{self, Expect};
use license_store::both_backends;
use license_store::testkit::*;
use serde_json::json;
use time::Duration;

use crate::support::{TestApp, block_on};

both_backends! {
    fn no_token_can_pass_for_keysmith_itself_in_the_audit(db) {
        block_on(async {
            let app = TestApp::new(&[db]).with_token();
            for name in ["system", "Sweeper", "abuse-detector", "ci:deploy"] {
                let r = app.req("POST", "/tokens", Some(json!({"name": name, "role": "viewer"}))).await;
                assert_eq!((r.status, r.body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("name")), "{name}: {:?}", r.body);
            }
            let ok = app.req("POST", "/tokens", Some(json!({"name": "ci-deploy", "role": "viewer"}))).await;
            assert_eq!(ok.status, StatusCode::CREATED);
        });
    }
}

#[test]
fn a_client_request_id_is_kept_only_when_it_is_safe() {
    let db = TestDb::sqlite();
    block_on(async {
        let app = TestApp::new(&[&db]);
        for (sent, kept) in [
            ("trace-1.2_ok", true),
            ("has space", false),
            ("x".repeat(65).as_str(), false),
            ("new\u{7f}line", false),
        ] {
            let mut req = TestRequest::get().uri("/v1/test/keys");
            if let Ok(v) = actix_web::http::header::HeaderValue::from_str(sent) {
                req = req.insert_header(("x-request-id", v));
            }
            let r = app.send(req).await;
            let echoed = r
                .headers
                .get("x-request-id")
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            assert_eq!(echoed == sent, kept, "{sent:?} → {echoed:?}");
            assert!(
                echoed.len() <= 64
                    && echoed
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            );
        }
    });
}

both_backends! {
    fn the_previews_offline_file_is_audited_and_bound_to_the_device_given(db) {
        block_on(async {
            let app = TestApp::new(&[db]).with_token();
            db.ensure_signing_key(now()).unwrap();
            let f = Fixture::new(db);
            let lic = f.assigned(db, 2);
            let id = lic.license.license.id;
            let p = app.req("GET", &format!("/licenses/{id}/preview?fingerprint=laptop-7"), None).await;
            assert_eq!(p.status, StatusCode::OK, "{:?}", p.body);
            let keys = vec![db.active_signing_key().unwrap().public_key()];
            let token = p.body["offline_file"]["lease"].as_str().unwrap();
            let claims = lease::verify(token, &keys, time::OffsetDateTime::now_utc(), Expect { fingerprint: Some("laptop-7"), env: Some("test") }).unwrap();
            assert_eq!(claims.fp.as_deref(), Some("laptop-7"));
            assert!(lease::verify(token, &keys, time::OffsetDateTime::now_utc(), Expect { fingerprint: Some("other"), env: Some("test") }).is_err(), "bound to that device");
            let unbound = app.req("GET", &format!("/licenses/{id}/preview"), None).await;
            assert_eq!(unbound.status, StatusCode::OK);
            let bad = app.req("GET", &format!("/licenses/{id}/preview?fingerprint={}", "f".repeat(300)), None).await;
            assert_eq!(bad.status, StatusCode::BAD_REQUEST);
            let audit = app.req("GET", &format!("/audit?action=license.offline_file_issued&target_id={id}"), None).await;
            assert_eq!(audit.body["total"], 2, "{:?}", audit.body);
            assert_eq!(audit.body["items"][1]["details"]["fingerprint"], "laptop-7");
            assert_eq!(audit.body["items"][0]["details"]["fingerprint"], serde_json::Value::Null);
            assert_eq!(audit.body["items"][0]["key_hint"], lic.license.license.key_display.as_str());
        });
    }
}

both_backends! {
    fn retention_never_purges_security_events_younger_than_a_year(db) {
        let f = Fixture::new(db);
        let lic = f.assigned(db, 1);
        let id = lic.license.license.id;
        let t = |days: i64| now() - Duration::days(days);
        db.reveal(&admin(), t(100), id).unwrap();
        db.record_offline_file(&admin(), t(100), id, None).unwrap();
        db.create_token(&admin(), t(100), "old-ci", license_store::tokens::Role::Viewer).unwrap();
        db.reveal(&admin(), t(400), id).unwrap();
        // A week of retention: ordinary entries older than that go, security events stay a year.
        db.purge_audit(now(), 7).unwrap();
        let (left, _) = db.audit_log(&license_store::audit::AuditFilter::default(), license_store::Page { limit: 500, offset: 0 }).unwrap();
        let actions: Vec<(&str, i64)> = left.iter().map(|e| (e.action.as_str(), (now() - e.at).whole_days())).collect();
        for kept in [("license.revealed", 100), ("license.offline_file_issued", 100), ("token.created", 100)] {
            assert!(actions.contains(&kept), "{kept:?} purged: {actions:?}");
        }
        assert!(!actions.contains(&("license.revealed", 400)), "older than a year and than the setting: purged");
    }
}

both_backends! {
    fn every_response_is_no_store_and_nosniff(db) {
        block_on(async {
            let app = TestApp::new(&[db]).with_token();
            let f = Fixture::new(db);
            let lic = f.assigned(db, 1);
            let admin_replies = [
                app.req("GET", &format!("/licenses/{}", lic.license.license.id), None).await,
                app.req("GET", "/customers", None).await,
                app.req("POST", "/tokens", Some(json!({"name": "t2", "role": "viewer"}))).await,
                app.req("GET", "/licenses/not-a-uuid", None).await,
            ];
            let validation_replies = [
                app.post("/v1/test/validate", json!({"key": key_of(&lic)})).await,
                app.post("/v1/test/validate", json!({"key": "NOPE"})).await,
            ];
            for r in admin_replies.iter().chain(&validation_replies) {
                assert_eq!(r.headers.get("cache-control").map(|v| v.to_str().unwrap()), Some("no-store"), "{:?}", r.body);
                assert_eq!(r.headers.get("x-content-type-options").map(|v| v.to_str().unwrap()), Some("nosniff"));
            }
            // The public keys hold nothing secret: their handler lets caches keep them a minute.
            let keys = app.get("/v1/test/keys").await;
            assert_eq!(keys.headers.get("cache-control").unwrap(), "public, max-age=60");
            assert_eq!(keys.headers.get("x-content-type-options").unwrap(), "nosniff");
        });
    }
}
