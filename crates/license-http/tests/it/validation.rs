//! Every route and outcome code of the validation API, on SQLite and PostgreSQL.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use license_core::lease::{self, Expect};
use license_http::config::RateLimits;
use license_store::both_backends;
use license_store::licenses::LicenseAction;
use license_store::testkit::*;
use serde_json::json;
use time::{Duration, OffsetDateTime};

use crate::support::*;

const V: &str = "/v1/test/validate";
const A: &str = "/v1/test/activate";
const D: &str = "/v1/test/deactivate";

fn code(r: &Reply) -> &str {
    r.body["code"].as_str().unwrap_or_default()
}

both_backends! {
    fn validate_answers_every_licence_outcome(db) {
        block_on(async {
            let app = TestApp::new(&[db]);
            let f = Fixture::new(db);
            let check = |status: StatusCode, expected: &'static str| move |r: Reply| {
                assert_eq!((r.status, code(&r)), (status, expected), "{:?}", r.body);
                r
            };
            let available = f.available(db);
            check(StatusCode::UNPROCESSABLE_ENTITY, "NOT_ASSIGNED")(app.post(V, json!({"key": key_of(&available)})).await);

            let assigned = f.assigned(db, 2);
            let r = check(StatusCode::OK, "VALID")(app.post(V, json!({"key": key_of(&assigned).to_lowercase()})).await);
            assert_eq!(r.body["valid"], true);
            let lic = &r.body["license"];
            assert_eq!(lic["key_display"], assigned.key.display_with(&f.generator.format.lead(&f.product.code)));
            assert_eq!(lic["product"]["code"], f.product.code.as_str());
            for private in ["customer", "customer_id", "metadata", "key"] {
                assert!(lic.get(private).is_none(), "public view leaks {private}");
            }
            assert!(r.body.get("lease").is_none(), "no fingerprint, no lease");

            let r = check(StatusCode::UNPROCESSABLE_ENTITY, "NOT_ACTIVATED")(app.post(V, json!({"key": key_of(&assigned), "fingerprint": "host-1"})).await);
            assert_eq!(r.body["valid"], false);
            check(StatusCode::UNPROCESSABLE_ENTITY, "PRODUCT_MISMATCH")(app.post(V, json!({"key": key_of(&assigned), "product": "OTHER"})).await);
            check(StatusCode::OK, "VALID")(app.post(V, json!({"key": key_of(&assigned), "product": f.product.id.to_string()})).await);

            let id = assigned.license.license.id;
            app.post(A, json!({"key": key_of(&assigned), "fingerprint": "host-1"})).await;
            db.act(&admin(), now(), id, LicenseAction::Suspend { reason: "fraud".into() }).unwrap();
            check(StatusCode::UNPROCESSABLE_ENTITY, "SUSPENDED")(app.post(V, json!({"key": key_of(&assigned)})).await);
            db.act(&admin(), now(), id, LicenseAction::Unsuspend).unwrap();
            db.act(&admin(), now(), id, LicenseAction::Inactivate).unwrap();
            check(StatusCode::UNPROCESSABLE_ENTITY, "INACTIVE")(app.post(V, json!({"key": key_of(&assigned)})).await);
            db.act(&admin(), now(), id, LicenseAction::Reactivate).unwrap();
            db.act(&admin(), now(), id, LicenseAction::Revoke).unwrap();
            let r = check(StatusCode::UNPROCESSABLE_ENTITY, "REVOKED")(app.post(V, json!({"key": key_of(&assigned)})).await);
            assert_eq!(r.body["message"], "License has been revoked");

            let old = f.assigned(db, 1);
            db.remint(&admin(), now(), old.license.license.id).unwrap();
            check(StatusCode::UNPROCESSABLE_ENTITY, "REMINTED")(app.post(V, json!({"key": key_of(&old)})).await);

            let r = check(StatusCode::NOT_FOUND, "NOT_FOUND")(app.post(V, json!({"key": "ACME-0000-0000-0000"})).await);
            assert_eq!(r.body, json!({"valid": false, "code": "NOT_FOUND", "message": "License not found"}));
        });
    }
}

both_backends! {
    fn expiry_grace_and_lazy_expire_over_http(db) {
        block_on(async {
            let app = TestApp::new(&[db]);
            let f = Fixture::new(db);
            let mut s = db.settings().unwrap();
            s.grace_period_days = 3;
            db.put_settings(&admin(), now(), &s).unwrap();
            let lic = f.assigned(db, 2);
            set_expiry(db, lic.license.license.id, OffsetDateTime::now_utc() - Duration::days(1));
            let r = app.post(V, json!({"key": key_of(&lic)})).await;
            assert_eq!((r.status, code(&r)), (StatusCode::OK, "GRACE_PERIOD"), "{:?}", r.body);
            assert_eq!(r.body["valid"], true);
            assert!(r.body["grace_until"].is_string());
            set_expiry(db, lic.license.license.id, OffsetDateTime::now_utc() - Duration::days(4));
            let r = app.post(V, json!({"key": key_of(&lic)})).await;
            assert_eq!((r.status, code(&r)), (StatusCode::UNPROCESSABLE_ENTITY, "EXPIRED"));
            assert_eq!(db.license(lic.license.license.id).unwrap().license.status.as_str(), "expired", "moved in the same request");
            let r = app.post(A, json!({"key": key_of(&lic), "fingerprint": "h"})).await;
            assert_eq!((r.status, code(&r)), (StatusCode::UNPROCESSABLE_ENTITY, "EXPIRED"));
        });
    }
}

both_backends! {
    fn activation_issues_leases_that_verify_against_published_keys(db) {
        block_on(async {
            let app = TestApp::new(&[db]);
            let f = Fixture::new(db);
            let lic = f.assigned(db, 1);
            let key = key_of(&lic);
            let r = app.post(A, json!({"key": key, "fingerprint": "laptop-1", "name": "Ada's laptop", "platform": "linux"})).await;
            assert_eq!((r.status, code(&r)), (StatusCode::CREATED, "ACTIVATED"), "{:?}", r.body);
            assert_eq!(r.body["license"]["status"], "active");
            assert_eq!(r.body["activation"]["fingerprint"], "laptop-1");
            let keys = app.public_keys("test").await;
            let expect = Expect { fingerprint: Some("laptop-1"), env: Some("test") };
            let claims = lease::verify(r.body["lease"].as_str().unwrap(), &keys, OffsetDateTime::now_utc(), expect).unwrap();
            assert_eq!(claims.lid, lic.license.license.id);
            assert!(claims.exp - claims.iat <= 604_800);

            let again = app.post(A, json!({"key": key, "fingerprint": "laptop-1"})).await;
            assert_eq!((again.status, code(&again)), (StatusCode::OK, "ALREADY_ACTIVATED"));
            let full = app.post(A, json!({"key": key, "fingerprint": "laptop-2"})).await;
            assert_eq!((full.status, code(&full)), (StatusCode::UNPROCESSABLE_ENTITY, "LIMIT_EXCEEDED"));
            assert_eq!(full.body["message"], "Activation limit reached (1 of 1)");

            let v = app.post(V, json!({"key": key, "fingerprint": "laptop-1", "nonce": "n-42"})).await;
            assert_eq!((v.status, code(&v)), (StatusCode::OK, "VALID"));
            assert_eq!(v.body["activation"]["fingerprint"], "laptop-1");
            let claims = lease::verify(v.body["lease"].as_str().unwrap(), &keys, OffsetDateTime::now_utc(), expect).unwrap();
            assert_eq!(claims.nonce.as_deref(), Some("n-42"), "the nonce is echoed in the lease");
            let wrong_env = Expect { fingerprint: Some("laptop-1"), env: Some("production") };
            assert_eq!(lease::verify(v.body["lease"].as_str().unwrap(), &keys, OffsetDateTime::now_utc(), wrong_env), Err(license_core::LeaseError::EnvironmentMismatch));

            let d = app.post(D, json!({"key": key, "fingerprint": "laptop-1"})).await;
            assert_eq!((d.status, code(&d)), (StatusCode::OK, "DEACTIVATED"));
            let d = app.post(D, json!({"key": key, "fingerprint": "laptop-1"})).await;
            assert_eq!((d.status, code(&d)), (StatusCode::NOT_FOUND, "NOT_FOUND"));
            let now_free = app.post(A, json!({"key": key, "fingerprint": "laptop-2"})).await;
            assert_eq!(now_free.status, StatusCode::CREATED);
        });
    }
}

both_backends! {
    fn activation_refusals_over_http(db) {
        block_on(async {
            let app = TestApp::new(&[db]);
            let f = Fixture::new(db);
            let available = f.available(db);
            let r = app.post(A, json!({"key": key_of(&available), "fingerprint": "h"})).await;
            assert_eq!((r.status, code(&r)), (StatusCode::UNPROCESSABLE_ENTITY, "NOT_ASSIGNED"));
            let lic = f.assigned(db, 3);
            let id = lic.license.license.id;
            app.post(A, json!({"key": key_of(&lic), "fingerprint": "first"})).await;
            db.act(&admin(), now(), id, LicenseAction::Suspend { reason: "x".into() }).unwrap();
            let r = app.post(A, json!({"key": key_of(&lic), "fingerprint": "h"})).await;
            assert_eq!((r.status, code(&r)), (StatusCode::UNPROCESSABLE_ENTITY, "SUSPENDED"));
            db.act(&admin(), now(), id, LicenseAction::Unsuspend).unwrap();
            db.act(&admin(), now(), id, LicenseAction::Inactivate).unwrap();
            let r = app.post(A, json!({"key": key_of(&lic), "fingerprint": "h"})).await;
            assert_eq!((r.status, code(&r)), (StatusCode::UNPROCESSABLE_ENTITY, "INACTIVE"));
            db.act(&admin(), now(), id, LicenseAction::Revoke).unwrap();
            let r = app.post(A, json!({"key": key_of(&lic), "fingerprint": "h"})).await;
            assert_eq!((r.status, code(&r)), (StatusCode::NOT_FOUND, "NOT_FOUND"), "revoked keys are not found");
            let old = f.assigned(db, 1);
            db.remint(&admin(), now(), old.license.license.id).unwrap();
            let r = app.post(A, json!({"key": key_of(&old), "fingerprint": "h"})).await;
            assert_eq!((r.status, code(&r)), (StatusCode::NOT_FOUND, "NOT_FOUND"), "reminted keys are not found");
        });
    }
}

both_backends! {
    fn a_key_from_another_environment_is_not_found(db) {
        block_on(async {
            let staging = if db.is_postgres() { TestDb::postgres_named("staging").unwrap() } else { TestDb::sqlite_named("staging") };
            let app = TestApp::new(&[db, &staging]);
            let lic = Fixture::new(&staging).assigned(&staging, 1);
            let there = app.post("/v1/staging/validate", json!({"key": key_of(&lic)})).await;
            assert_eq!(code(&there), "VALID");
            let here = app.post(V, json!({"key": key_of(&lic)})).await;
            assert_eq!((here.status, code(&here)), (StatusCode::NOT_FOUND, "NOT_FOUND"));
        });
    }
}

#[test]
fn bad_input_gets_a_4xx_naming_the_problem() {
    let db = TestDb::sqlite();
    block_on(async {
        let app = TestApp::new(&[&db]);
        let cases: Vec<(TestRequest, StatusCode, &str, &str)> = vec![
            (
                TestRequest::post()
                    .uri(V)
                    .insert_header(("content-type", "application/json"))
                    .set_payload("{\"key\":"),
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                "invalid JSON",
            ),
            (
                TestRequest::post()
                    .uri(V)
                    .set_json(json!({"key": "K", "extra": 1})),
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                "unknown field `extra`",
            ),
            (
                TestRequest::post()
                    .uri(V)
                    .set_json(json!({"fingerprint": "x"})),
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                "missing field `key`",
            ),
            (
                TestRequest::post().uri(V).set_json(json!({"key": 5})),
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                "invalid type",
            ),
            (
                TestRequest::post().uri(V).set_json(json!({"key": "  "})),
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                "key:",
            ),
            (
                TestRequest::post()
                    .uri(V)
                    .set_json(json!({"key": "K", "fingerprint": "a\u{0}b"})),
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                "fingerprint",
            ),
            (
                TestRequest::post()
                    .uri(V)
                    .set_json(json!({"key": "K", "nonce": "n".repeat(65)})),
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                "nonce",
            ),
            (
                TestRequest::post().uri(A).set_json(json!({"key": "K"})),
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                "missing field `fingerprint`",
            ),
            (
                TestRequest::post().uri(A).set_json(json!({"key": "K", "fingerprint": "f", "name": "   "})),
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                "name",
            ),
            (
                TestRequest::post()
                    .uri(A)
                    .set_json(json!({"key": "K", "fingerprint": "f", "metadata": {"x": "y".repeat(11 * 1024)}})),
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                "metadata",
            ),
            (
                TestRequest::post()
                    .uri(A)
                    .set_json(json!({"key": "K", "fingerprint": "f", "metadata": [1]})),
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                "metadata",
            ),
            (
                TestRequest::post()
                    .uri(V)
                    .insert_header(("content-type", "text/plain"))
                    .set_payload("{\"key\":\"K\"}"),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                "application/json",
            ),
            (
                TestRequest::post()
                    .uri(V)
                    .set_json(json!({"key": "K".repeat(17 * 1024)})),
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                "16384",
            ),
            (
                TestRequest::post()
                    .uri("/v1/nowhere/validate")
                    .set_json(json!({"key": "K"})),
                StatusCode::NOT_FOUND,
                "ENVIRONMENT_NOT_FOUND",
                "nowhere",
            ),
            (
                TestRequest::get().uri("/v1/test/nothing-here"),
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "route",
            ),
        ];
        for (req, status, expected, mention) in cases {
            let r = app.send(req).await;
            assert_eq!(
                (r.status, r.error_code()),
                (status, expected),
                "{:?}",
                r.body
            );
            let message = r.body["error"]["message"].as_str().unwrap();
            assert!(
                message.contains(mention),
                "{message:?} should mention {mention:?}"
            );
            let rid = r.body["error"]["request_id"].as_str().unwrap();
            assert_eq!(
                r.headers.get("x-request-id").unwrap().to_str().unwrap(),
                rid
            );
        }
    });
}

#[test]
fn rate_limits_answer_429_with_retry_after() {
    let db = TestDb::sqlite();
    block_on(async {
        let app = TestApp::with_rates(
            &[&db],
            RateLimits {
                per_key: Some(2),
                per_ip: None,
                unknown_per_ip: Some(3),
            },
        );
        let lic = Fixture::new(&db).assigned(&db, 1);
        for _ in 0..2 {
            assert_eq!(
                app.post(V, json!({"key": key_of(&lic)})).await.status,
                StatusCode::OK
            );
        }
        let r = app.post(V, json!({"key": key_of(&lic)})).await;
        assert_eq!(
            (r.status, r.error_code()),
            (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED")
        );
        assert!(
            r.headers
                .get("retry-after")
                .unwrap()
                .to_str()
                .unwrap()
                .parse::<u64>()
                .unwrap()
                >= 1
        );

        for i in 0..3 {
            let r = app.post(V, json!({"key": format!("GUESS-{i}")})).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND);
        }
        let r = app.post(V, json!({"key": "GUESS-3"})).await;
        assert_eq!(
            (r.status, r.error_code()),
            (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED"),
            "unknown keys are limited harder"
        );
        let blocked = app.post(V, json!({"key": "GUESS-4"})).await;
        assert_eq!(
            blocked.status,
            StatusCode::TOO_MANY_REQUESTS,
            "the guessing IP is held off"
        );
    });
}

#[test]
fn readiness_says_ready_and_nothing_more_and_metrics_stay_off_the_public_service() {
    let db = TestDb::sqlite();
    block_on(async {
        let app = TestApp::new(&[&db]).with_token();
        assert_eq!(app.get("/healthz").await.body, json!({"status": "ok"}));
        let ready = app.get("/readyz").await;
        assert_eq!(ready.status, StatusCode::OK);
        assert_eq!(
            ready.body,
            json!({"status": "ready"}),
            "no environment names"
        );
        app.post(V, json!({"key": "NOPE-1"})).await;
        let m = app.get("/metrics").await;
        assert_eq!(
            m.status,
            StatusCode::NOT_FOUND,
            "no /metrics on the validation listener"
        );
        let admin_ready = app
            .call(None, actix_web::test::TestRequest::get().uri("/readyz"))
            .await;
        assert_eq!(admin_ready.body, json!({"status": "ready"}));
        let m = app
            .call(None, actix_web::test::TestRequest::get().uri("/metrics"))
            .await;
        assert_eq!(
            m.status,
            StatusCode::OK,
            "the admin listener serves /metrics"
        );
        let text = m.body.as_str().unwrap();
        assert!(
            text.contains("keysmith_requests_total{route=\"/readyz\",code=\"OK\"} 1"),
            "{text}"
        );
    });
}

both_backends! {
    fn crossing_an_abuse_rule_suspends_the_license(db) {
        block_on(async {
            let app = TestApp::new(&[db]);
            let mut s = db.settings().unwrap();
            s.abuse.max_refused_fingerprints = Some(2);
            s.abuse.refused_window_minutes = Some(10);
            db.put_settings(&admin(), now(), &s).unwrap();
            let lic = Fixture::new(db).assigned(db, 1);
            let key = key_of(&lic);
            assert_eq!(app.post(A, json!({"key": key, "fingerprint": "owner"})).await.status, StatusCode::CREATED);
            for fp in ["b", "c", "b"] {
                let r = app.post(A, json!({"key": key, "fingerprint": fp})).await;
                assert_eq!(code(&r), "LIMIT_EXCEEDED");
            }
            assert_eq!(db.license(lic.license.license.id).unwrap().license.status.as_str(), "active", "two distinct refusals are within the rule");
            let r = app.post(A, json!({"key": key, "fingerprint": "d"})).await;
            assert_eq!(code(&r), "LIMIT_EXCEEDED");
            let l = db.license(lic.license.license.id).unwrap().license;
            assert_eq!(l.status.as_str(), "suspended");
            assert!(l.suspended_reason.unwrap().starts_with("abuse rule: more than 2 distinct fingerprints"));
            let filter = license_store::audit::AuditFilter { target_id: Some(l.id.to_string()), action: Some("license.suspended".into()), ..Default::default() };
            let (entries, _) = db.audit_log(&filter, license_store::Page::default()).unwrap();
            assert_eq!(entries[0].actor, "abuse-detector");
            let v = app.post(V, json!({"key": key, "fingerprint": "owner"})).await;
            assert_eq!(code(&v), "SUSPENDED");
        });
    }
}
