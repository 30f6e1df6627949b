//! The admin API in-process: the whole license lifecycle over HTTP on both backends, the role
//! table (every permission × every role), and that a full key appears only where SPEC §5 allows.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use license_store::both_backends;
use license_store::testkit::*;
use license_store::tokens::Role;
use serde_json::{Value, json};

use crate::support::{TestApp, block_on};

both_backends! {
    fn the_license_lifecycle_over_the_admin_api(db) {
        block_on(async {
            let app = TestApp::new(&[db]).with_token();
            let mut bodies: Vec<String> = Vec::new();
            let p = app.req("POST", "/products", Some(json!({"name": "Acme Pro", "code": "ACME"}))).await;
            assert_eq!(p.status, StatusCode::CREATED, "{:?}", p.body);
            let product_id = p.body["id"].as_str().unwrap().to_owned();
            let weak = app.req("POST", "/generators", Some(json!({"product_id": product_id, "name": "g", "format": {"kind": "pattern", "pattern": "PRO-####-@@@@-****"}}))).await;
            assert_eq!((weak.status, weak.error_code()), (StatusCode::UNPROCESSABLE_ENTITY, "WEAK_KEY_FORMAT"));
            let g = app.req("POST", "/generators", Some(json!({"product_id": product_id, "name": "g", "format": {"kind": "chunked", "chunks": 4, "chunk_len": 4, "check": true}, "default_activation_limit": 2}))).await;
            assert_eq!(g.status, StatusCode::CREATED, "{:?}", g.body);
            let generator_id = g.body["id"].as_str().unwrap().to_owned();
            let c = app.req("POST", "/customers", Some(json!({"name": "Grace Hopper", "email": "grace@navy.example.org"}))).await;
            let customer_id = c.body["id"].as_str().unwrap().to_owned();
            let dup = app.req("POST", "/customers", Some(json!({"name": "G", "email": "GRACE@navy.example.org"}))).await;
            assert_eq!((dup.status, dup.error_code()), (StatusCode::CONFLICT, "DUPLICATE"));

            let created = app.req("POST", "/licenses", Some(json!({"product_id": product_id, "generator_id": generator_id}))).await;
            assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
            let key = created.body["key"].as_str().unwrap().to_owned();
            let id = created.body["id"].as_str().unwrap().to_owned();
            assert_eq!(created.body["status"], "available");
            assert_eq!(created.body["product"]["code"], "ACME");

            let bad_limit = app.req("PATCH", &format!("/licenses/{id}"), Some(json!({"activation_limit": 0}))).await;
            assert_eq!((bad_limit.status, bad_limit.error_code()), (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_FIELD"));
            assert_eq!(bad_limit.body["error"]["field"], "activation_limit");
            let far = app.req("PATCH", &format!("/licenses/{id}"), Some(json!({"expires_at": "9999-12-31T23:00:00-05:00"}))).await;
            assert_eq!((far.status, far.error_code()), (StatusCode::BAD_REQUEST, "INVALID_REQUEST"), "{:?}", far.body);
            let immutable = app.req("PATCH", &format!("/licenses/{id}"), Some(json!({"key": "X"}))).await;
            assert_eq!((immutable.status, immutable.error_code()), (StatusCode::UNPROCESSABLE_ENTITY, "IMMUTABLE_FIELD"));
            let wrong = app.req("POST", &format!("/licenses/{id}/suspend"), Some(json!({"reason": "x"}))).await;
            assert_eq!((wrong.status, wrong.error_code()), (StatusCode::CONFLICT, "INVALID_TRANSITION"));
            assert_eq!((wrong.body["error"]["from"].as_str(), wrong.body["error"]["action"].as_str()), (Some("available"), Some("suspend")));

            let steps = [
                ("assign", Some(json!({"customer_id": customer_id})), "assigned"),
                ("inactivate", None, "assigned"),
            ];
            let r = app.req("POST", &format!("/licenses/{id}/{}", steps[0].0), steps[0].1.clone()).await;
            assert_eq!((r.status, r.body["status"].as_str()), (StatusCode::OK, Some(steps[0].2)));
            assert_eq!(r.body["customer"]["email"], "grace@navy.example.org");
            let r = app.req("POST", &format!("/licenses/{id}/{}", steps[1].0), None).await;
            assert_eq!(r.status, StatusCode::CONFLICT, "assigned cannot be inactivated");
            bodies.push(r.body.to_string());

            let n = license_store::activation::NewActivation { fingerprint: fp("h1"), name: None, platform: None, ip: None, metadata: None };
            db.activate(&admin(), now(), &key, n, time::Duration::ZERO).unwrap();
            for (action, body, status) in [
                ("suspend", Some(json!({"reason": "chargeback"})), "suspended"),
                ("unsuspend", None, "active"),
                ("inactivate", None, "inactive"),
                ("reactivate", None, "active"),
            ] {
                let r = app.req("POST", &format!("/licenses/{id}/{action}"), body).await;
                assert_eq!((r.status, r.body["status"].as_str()), (StatusCode::OK, Some(status)), "{action}: {:?}", r.body);
                bodies.push(r.body.to_string());
            }
            let acts = app.req("GET", &format!("/licenses/{id}/activations"), None).await;
            assert_eq!(acts.body["total"], 1);
            let activation_id = acts.body["items"][0]["id"].as_str().unwrap().to_owned();
            let found = app.req("GET", "/licenses?q=navy.example&sort=expires&order=desc", None).await;
            assert_eq!((found.body["total"].as_i64(), found.body["items"][0]["id"].as_str()), (Some(1), Some(id.as_str())));
            let bad_query = app.req("GET", "/licenses?status=sleeping", None).await;
            assert_eq!(bad_query.error_code(), "INVALID_REQUEST");
            assert!(bad_query.body["error"]["message"].as_str().unwrap().starts_with("status:"));
            bodies.extend([acts.body.to_string(), found.body.to_string()]);

            let revealed = app.req("POST", &format!("/licenses/{id}/reveal"), None).await;
            assert_eq!(revealed.body["key"], key.as_str());
            let has_acts = app.req("DELETE", &format!("/licenses/{id}"), None).await;
            assert_eq!((has_acts.status, has_acts.error_code()), (StatusCode::CONFLICT, "LICENSE_HAS_ACTIVATIONS"));
            let d = app.req("POST", &format!("/activations/{activation_id}/deactivate"), None).await;
            assert_eq!((d.status, d.body["status"].as_str()), (StatusCode::OK, Some("deactivated")));
            let reminted = app.req("POST", &format!("/licenses/{id}/remint"), None).await;
            assert_eq!(reminted.status, StatusCode::CREATED, "{:?}", reminted.body);
            assert_ne!(reminted.body["key"], key.as_str());
            let not_editable = app.req("PATCH", &format!("/licenses/{id}"), Some(json!({"activation_limit": 3}))).await;
            assert_eq!((not_editable.status, not_editable.error_code()), (StatusCode::CONFLICT, "LICENSE_NOT_EDITABLE"));
            let gone = app.req("DELETE", &format!("/licenses/{id}?force=true"), None).await;
            assert_eq!(gone.status, StatusCode::NO_CONTENT);

            let in_use = app.req("DELETE", &format!("/products/{product_id}"), None).await;
            assert_eq!((in_use.status, in_use.error_code()), (StatusCode::CONFLICT, "IN_USE"));
            let audit = app.req("GET", &format!("/audit?target_id={id}&action=license.deleted"), None).await;
            assert_eq!(audit.body["total"], 1);
            assert_eq!(audit.body["items"][0]["actor"], "token:root", "SPEC §3: token:<name>");
            let events = app.req("GET", &format!("/events?license_id={id}"), None).await;
            assert!(events.body["total"].as_i64().unwrap() >= 8);
            let mut s = app.req("GET", "/settings", None).await.body;
            s["grace_period_days"] = json!(5);
            let put = app.req("PUT", "/settings", Some(s)).await;
            assert_eq!((put.status, put.body["grace_period_days"].as_i64()), (StatusCode::OK, Some(5)));
            bodies.extend([audit.body.to_string(), events.body.to_string(), put.body.to_string()]);
            for b in &bodies {
                assert!(!b.contains(&key), "full key leaked into a response: {b}");
            }
            let entries = app.req("GET", "/audit?limit=500", None).await.body.to_string();
            assert!(!entries.contains(&key), "full key in the audit log");
        });
    }
}

both_backends! {
    fn activations_across_licenses_filter_by_license_fingerprint_and_status(db) {
        block_on(async {
            let app = TestApp::new(&[db]).with_token();
            let f = Fixture::new(db);
            let (a, b) = (f.assigned(db, 5), f.assigned(db, 5));
            let activate = |key: &str, device: &str, at: i64| {
                let n = license_store::activation::NewActivation { fingerprint: fp(device), name: Some(format!("{device} laptop")), platform: None, ip: None, metadata: None };
                db.activate(&admin(), now() + time::Duration::seconds(at), key, n, time::Duration::ZERO).unwrap().activation.unwrap().id
            };
            activate(key_of(&a), "dev-1", 1);
            let shared = activate(key_of(&a), "dev-shared", 2);
            activate(key_of(&b), "dev-shared", 3);
            let all = app.req("GET", "/activations", None).await;
            assert_eq!(all.body["total"], 3, "{:?}", all.body);
            assert_eq!(all.body["items"][0]["fingerprint"], "dev-shared", "newest first");
            assert_eq!(all.body["items"][0]["license"]["id"], b.license.license.id.to_string());
            assert_eq!(all.body["items"][0]["license"]["key_display"], b.license.license.key_display.as_str());
            let one = app.req("GET", &format!("/activations?license_id={}", a.license.license.id), None).await;
            assert_eq!(one.body["total"], 2);
            let device = app.req("GET", "/activations?fingerprint=dev-shared", None).await;
            assert_eq!(device.body["total"], 2, "one device across two licenses");
            app.req("POST", &format!("/activations/{shared}/deactivate"), None).await;
            let gone = app.req("GET", "/activations?status=deactivated", None).await;
            assert_eq!((gone.body["total"].as_i64(), gone.body["items"][0]["id"].as_str()), (Some(1), Some(shared.to_string().as_str())));
            let paged = app.req("GET", "/activations?status=active&limit=1&offset=1", None).await;
            assert_eq!((paged.body["total"].as_i64(), paged.body["items"].as_array().map(Vec::len)), (Some(2), Some(1)));
            for (query, field) in [("status=gone", "status"), ("license_id=nope", "license_id"), ("limit=501", "limit")] {
                let r = app.req("GET", &format!("/activations?{query}"), None).await;
                assert!(r.status.is_client_error(), "{query}: {}", r.status);
                assert!(r.body["error"]["message"].as_str().unwrap().starts_with(field) || r.body["error"]["field"] == field, "{query}: {:?}", r.body);
            }
            let long = app.req("GET", &format!("/activations?fingerprint={}", "f".repeat(300)), None).await;
            assert_eq!(long.status, StatusCode::BAD_REQUEST);
        });
    }
}

both_backends! {
    fn the_format_preview_gives_entropy_and_an_example_or_the_create_error(db) {
        block_on(async {
            let app = TestApp::new(&[db]).with_token();
            let f = Fixture::new(db);
            let ok = app.req("POST", "/generators/format-preview", Some(json!({"format": {"kind": "chunked", "chunks": 4, "chunk_len": 4, "check": true}, "product_id": f.product.id}))).await;
            assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
            assert_eq!((ok.body["entropy_bits"].as_f64(), ok.body["min_entropy_bits"].as_f64()), (Some(80.0), Some(80.0)));
            let example = ok.body["example"].as_str().unwrap();
            assert!(example.starts_with(&format!("{}-", f.product.code)), "{example}");
            assert_eq!(example.split('-').count(), 1 + 4 + 1, "code, four chunks, the check chunk: {example}");
            let weak = app.req("POST", "/generators/format-preview", Some(json!({"format": {"kind": "pattern", "pattern": "PRO-####-@@@@-****"}}))).await;
            assert_eq!((weak.status, weak.error_code()), (StatusCode::UNPROCESSABLE_ENTITY, "WEAK_KEY_FORMAT"));
            let created = app.req("POST", "/generators", Some(json!({"product_id": f.product.id, "name": "weak", "format": {"kind": "pattern", "pattern": "PRO-####-@@@@-****"}}))).await;
            assert_eq!(weak.body["error"]["message"], created.body["error"]["message"], "the preview says what creating would say");
            let bad = app.req("POST", "/generators/format-preview", Some(json!({"format": {"kind": "chunked", "chunks": 40, "chunk_len": 4}}))).await;
            assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
            assert_eq!(bad.body["error"]["field"], "format");
            let missing = app.req("POST", "/generators/format-preview", Some(json!({"format": {"kind": "uuid"}, "product_id": uuid::Uuid::now_v7()}))).await;
            assert_eq!(missing.status, StatusCode::NOT_FOUND);
            let count = app.req("GET", "/generators", None).await.body["total"].as_i64();
            assert_eq!(count, Some(1), "a preview creates nothing");
        });
    }
}

both_backends! {
    fn an_exact_key_search_is_audited_without_the_key_and_throttled_per_caller(db) {
        block_on(async {
            let app = TestApp::new(&[db]).with_token();
            let f = Fixture::new(db);
            let lic = f.assigned(db, 1);
            let key = key_of(&lic).to_owned();
            let found = app.req("GET", &format!("/licenses?q={}", key.to_lowercase()), None).await;
            assert_eq!(found.body["total"], 1);
            let miss = app.req("GET", "/licenses?q=ZZZZ-0000-1111-2222-3333-4444", None).await;
            assert_eq!(miss.body["total"], 0);
            // Partial searches are neither audited nor counted.
            for _ in 0..40 {
                assert_eq!(app.req("GET", &format!("/licenses?q={}", &key[key.len() - 4..]), None).await.status, StatusCode::OK);
            }
            let audit = app.req("GET", "/audit?action=license.key_searched", None).await;
            assert_eq!(audit.body["total"], 2, "{:?}", audit.body);
            let hit = &audit.body["items"][1];
            assert_eq!((hit["target_id"].as_str(), hit["key_hint"].as_str(), hit["details"]["found"].as_bool()),
                (Some(lic.license.license.id.to_string().as_str()), Some(lic.license.license.key_display.as_str()), Some(true)));
            assert_eq!(audit.body["items"][0]["details"]["found"], false);
            assert!(!audit.body.to_string().contains(&key[5..]), "no key material beyond the display form");
            // 30 a minute: 2 made above, 28 more pass (exports count too), the next is refused.
            for i in 0..28 {
                let path = if i == 0 { format!("/licenses/export.csv?q={key}") } else { format!("/licenses?q={key}") };
                assert_eq!(app.req("GET", &path, None).await.status, StatusCode::OK, "search {i}");
            }
            let refused = app.req("GET", &format!("/licenses?q={key}"), None).await;
            assert_eq!((refused.status, refused.error_code()), (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED"));
            let wait: u64 = refused.headers.get("retry-after").unwrap().to_str().unwrap().parse().unwrap();
            assert!((1..=60).contains(&wait), "{wait}");
            let other = db.create_token(&admin(), now(), "second", Role::Viewer).unwrap().1;
            assert_eq!(app.as_token(&other, "GET", &format!("/licenses?q={key}"), None).await.status, StatusCode::OK, "per caller");
            assert_eq!(app.req("GET", "/licenses?q=grace", None).await.status, StatusCode::OK, "other searches go on");
        });
    }
}

/// Who may call a route, per SPEC §8 (written out here independently of `auth::allows`).
#[derive(Clone, Copy)]
enum Who {
    /// Every role: admin, manager, support, viewer.
    Everyone,
    /// admin, manager, support.
    Support,
    /// admin, manager ("License Management").
    Managers,
    /// admin only.
    Admins,
}

impl Who {
    fn allows(self, role: Role) -> bool {
        match self {
            Who::Everyone => true,
            Who::Support => role != Role::Viewer,
            Who::Managers => matches!(role, Role::Admin | Role::Manager),
            Who::Admins => role == Role::Admin,
        }
    }
}

both_backends! {
    fn every_route_times_every_role_is_allowed_or_403(db) {
    block_on(async {
        let app = TestApp::new(&[db]).with_token();
        db.ensure_signing_key(now()).unwrap();
        let f = Fixture::new(db);
        let lic = f.assigned(db, 50);
        let n = license_store::activation::NewActivation { fingerprint: fp("h"), name: None, platform: None, ip: None, metadata: None };
        let act = db.activate(&admin(), now(), key_of(&lic), n, time::Duration::ZERO).unwrap().activation.unwrap().id;
        let (pid, gid, cid, lid) = (f.product.id, f.generator.id, f.customer.id, lic.license.license.id);
        let none = uuid::Uuid::now_v7();
        use Who::*;
        let table: Vec<(&str, String, Option<Value>, Who)> = vec![
            ("GET", "/products".into(), None, Everyone),
            ("POST", "/products".into(), Some(json!({"name": "X", "code": "ZZ"})), Managers),
            ("GET", format!("/products/{pid}"), None, Everyone),
            ("PATCH", format!("/products/{pid}"), Some(json!({"name": "Renamed"})), Managers),
            ("DELETE", format!("/products/{none}"), None, Managers),
            ("GET", "/generators".into(), None, Everyone),
            ("POST", "/generators".into(), Some(json!({"product_id": pid, "name": "g2", "format": {"kind": "uuid"}})), Managers),
            ("GET", format!("/generators/{gid}"), None, Everyone),
            ("PATCH", format!("/generators/{gid}"), Some(json!({"name": "g"})), Managers),
            ("DELETE", format!("/generators/{none}"), None, Managers),
            ("POST", format!("/generators/{gid}/generate"), Some(json!({"count": 1})), Managers),
            ("GET", "/customers".into(), None, Everyone),
            ("POST", "/customers".into(), Some(json!({"name": "N", "email": "n@example.com"})), Managers),
            ("GET", format!("/customers/{cid}"), None, Everyone),
            ("PATCH", format!("/customers/{cid}"), Some(json!({"name": "Ada L."})), Managers),
            ("DELETE", format!("/customers/{none}"), None, Managers),
            ("GET", format!("/customers/{cid}/portal"), None, Everyone),
            ("PUT", format!("/customers/{cid}/portal"), Some(json!({"access": true})), Managers),
            ("GET", format!("/customers/{cid}/mail"), None, Everyone),
            ("GET", "/mail/templates".into(), None, Everyone),
            ("POST", "/mail/preview".into(), Some(json!({"kind": "revoked"})), Everyone),
            ("GET", "/licenses".into(), None, Everyone),
            ("POST", "/licenses".into(), Some(json!({"product_id": pid, "generator_id": gid})), Managers),
            ("GET", format!("/licenses/{lid}"), None, Everyone),
            ("PATCH", format!("/licenses/{lid}"), Some(json!({"metadata": {}})), Managers),
            ("DELETE", format!("/licenses/{none}"), None, Managers),
            ("GET", format!("/licenses/{lid}/activations"), None, Everyone),
            ("GET", "/activations".into(), None, Everyone),
            ("POST", "/generators/format-preview".into(), Some(json!({"format": {"kind": "uuid"}})), Everyone),
            ("POST", format!("/licenses/{lid}/assign"), Some(json!({"customer_id": cid})), Support),
            ("POST", format!("/licenses/{lid}/suspend"), Some(json!({"reason": "x"})), Managers),
            ("POST", format!("/licenses/{lid}/unsuspend"), None, Managers),
            ("POST", format!("/licenses/{lid}/inactivate"), None, Support),
            ("POST", format!("/licenses/{lid}/reactivate"), None, Support),
            ("POST", format!("/licenses/{lid}/reveal"), None, Managers),
            ("GET", format!("/licenses/{lid}/preview"), None, Support),
            ("POST", format!("/activations/{act}/deactivate"), None, Support),
            ("POST", format!("/licenses/{none}/revoke"), None, Managers),
            ("POST", format!("/licenses/{none}/remint"), None, Managers),
            ("GET", "/licenses/export.csv".into(), None, Managers),
            ("GET", "/licenses/export.json".into(), None, Managers),
            ("POST", "/licenses/import".into(), None, Managers),
            ("GET", "/stats".into(), None, Everyone),
            ("GET", "/audit".into(), None, Everyone),
            ("GET", "/events".into(), None, Everyone),
            ("GET", "/jobs".into(), None, Everyone),
            ("GET", format!("/jobs/{none}"), None, Everyone),
            ("GET", format!("/jobs/{none}/keys.csv"), None, Managers),
            ("GET", "/settings".into(), None, Everyone),
            ("PUT", "/settings".into(), Some(json!({"grace_period_days": 1, "offline_file_ttl_seconds": 86400, "audit_retention_days": 365, "abuse": {}, "reveal_requires_reauth": false})), Admins),
            ("GET", "/tokens".into(), None, Admins),
            ("POST", "/tokens".into(), Some(json!({"name": "extra", "role": "viewer"})), Admins),
            ("DELETE", format!("/tokens/{none}"), None, Admins),
            ("GET", "/webhooks".into(), None, Admins),
            ("GET", "/webhooks/event-types".into(), None, Admins),
            ("POST", "/webhooks".into(), Some(json!({"url": "https://hooks.example.com/k", "events": ["license.revoked"]})), Admins),
            ("GET", format!("/webhooks/{none}"), None, Admins),
            ("GET", format!("/webhooks/{none}/deliveries"), None, Admins),
            ("PATCH", format!("/webhooks/{none}"), Some(json!({"enabled": false})), Admins),
            ("DELETE", format!("/webhooks/{none}"), None, Admins),
            ("POST", format!("/webhooks/{none}/ping"), None, Admins),
            ("POST", format!("/deliveries/{none}/retry"), None, Admins),
        ];
        // Every environment route of the admin OpenAPI document is in the table (`/v1/auth` and
        // `/v1/operators` are not per environment; the session tests cover them).
        let doc: Value = serde_json::from_str(&license_http::admin_openapi()).unwrap();
        let ids = [pid.to_string(), gid.to_string(), cid.to_string(), lid.to_string(), act.to_string(), none.to_string()];
        let normal = |p: &str| ids.iter().fold(format!("/v1/{{env}}{p}"), |acc, id| acc.replace(id.as_str(), "{id}"));
        for (path, item) in doc["paths"].as_object().unwrap() {
            if !path.starts_with("/v1/{env}/") {
                continue;
            }
            for method in item.as_object().unwrap().keys() {
                let covered = table.iter().any(|(m, p, _, _)| m.eq_ignore_ascii_case(method) && normal(p) == *path);
                assert!(covered, "{method} {path} is not in the role table");
            }
        }
        let roles = [Role::Admin, Role::Manager, Role::Support, Role::Viewer];
        let mut secrets = Vec::new();
        for r in roles {
            secrets.push(db.create_token(&admin(), now(), &format!("t-{}", r.as_str()), r).unwrap().1);
        }
        for (method, path, body, who) in &table {
            for (i, role) in roles.iter().enumerate() {
                let r = if path == "/licenses/import" {
                    let req = TestRequest::post()
                        .uri("/v1/test/licenses/import?dry_run=true")
                        .insert_header(("content-type", "text/csv"))
                        .set_payload(format!("license_id,customer_email\n{lid},{}\n", f.customer.email));
                    app.call(Some(&secrets[i]), req).await
                } else {
                    app.as_token(&secrets[i], method, path, body.clone()).await
                };
                if who.allows(*role) {
                    assert!(
                        r.status != StatusCode::FORBIDDEN && r.status != StatusCode::UNAUTHORIZED,
                        "{} must be allowed {method} {path}: {:?}", role.as_str(), r.body
                    );
                } else {
                    assert_eq!((r.status, r.error_code()), (StatusCode::FORBIDDEN, "FORBIDDEN"), "{} {method} {path}", role.as_str());
                }
            }
        }
        let none = app.call(None, TestRequest::get().uri("/v1/test/licenses")).await;
        assert_eq!((none.status, none.error_code()), (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"));
        let bogus = app.call(Some("ks_not_a_token"), TestRequest::get().uri("/v1/test/licenses")).await;
        assert_eq!(bogus.status, StatusCode::UNAUTHORIZED);
        let other_env = app.call(Some(&app.token), TestRequest::get().uri("/v1/production/licenses")).await;
        assert_eq!(other_env.error_code(), "ENVIRONMENT_NOT_FOUND");
    });
    }
}
