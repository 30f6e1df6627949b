//! Bulk admin routes: mint jobs and their once-only key download, streamed exports, the
//! all-or-nothing import, stats, preview with a verifiable offline file, and CORS.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use license_core::lease::{self, Expect};
use license_store::both_backends;
use license_store::testkit::*;
use serde_json::{Value, json};

use crate::support::{Reply, TestApp, block_on};

both_backends! {
    fn a_mint_job_hands_its_keys_out_once(db) {
        block_on(async {
            let app = TestApp::new(&[db]).with_token();
            let f = Fixture::new(db);
            let path = format!("/v1/test/generators/{}/generate", f.generator.id);
            let Reply { status: s, body, .. } = app.admin(TestRequest::post().uri(&path).set_json(json!({"count": 1200, "customer_id": f.customer.id}))).await;
            assert_eq!(s, StatusCode::ACCEPTED, "{body}");
            let job_id: uuid::Uuid = body["job"]["id"].as_str().unwrap().parse().unwrap();
            let early = app.admin(TestRequest::get().uri(&format!("/v1/test/jobs/{job_id}/keys.csv"))).await;
            assert_eq!(early.status, StatusCode::UNPROCESSABLE_ENTITY, "keys only once the job is completed");
            db.run_mint_job(&admin(), job_id, now).unwrap(); // what the worker thread does
            let Reply { status: s, body: job, .. } = app.admin(TestRequest::get().uri(&format!("/v1/test/jobs/{job_id}"))).await;
            assert_eq!((s, job["status"].as_str(), job["done"].as_i64()), (StatusCode::OK, Some("completed"), Some(1200)));
            let r = app.admin(TestRequest::get().uri(&format!("/v1/test/jobs/{job_id}/keys.csv"))).await;
            let (s, headers, csv) = (r.status, r.headers.clone(), r.text());
            assert_eq!(s, StatusCode::OK);
            assert!(headers.get("content-type").unwrap().to_str().unwrap().starts_with("text/csv"));
            let lines: Vec<&str> = csv.lines().collect();
            assert_eq!((lines[0], lines.len()), ("seq,license_id,key", 1201));
            let key = lines[1].rsplit(',').next().unwrap();
            assert!(license_core::keys::check_chunk_is_valid(key));
            let again = app.admin(TestRequest::get().uri(&format!("/v1/test/jobs/{job_id}/keys.csv"))).await;
            assert_eq!((again.status, again.body["error"]["code"].as_str()), (StatusCode::GONE, Some("GONE")));
            let too_many = app.admin(TestRequest::post().uri(&path).set_json(json!({"count": 100_001}))).await;
            assert_eq!(too_many.body["error"]["field"], "count");
        });
    }
}

both_backends! {
    fn exports_stream_every_match_with_masked_keys(db) {
        block_on(async {
            let app = TestApp::new(&[db]).with_token();
            let f = Fixture::new(db);
            let mut keys = Vec::new();
            for i in 0..1_203 {
                let c = if i % 3 == 0 { f.assigned(db, 1) } else { f.available(db) };
                keys.push(key_of(&c).to_owned());
            }
            let r = app.admin(TestRequest::get().uri("/v1/test/licenses/export.csv")).await;
            let (s, _, csv) = (r.status, r.headers.clone(), r.text());
            assert_eq!(s, StatusCode::OK);
            assert_eq!(csv.lines().count(), 1 + 1_203, "header + every license, across pages of 500");
            assert!(csv.starts_with("id,key_display,status,"));
            let r = app.admin(TestRequest::get().uri("/v1/test/licenses/export.csv?status=assigned")).await;
            let (_, _, assigned) = (r.status, r.headers.clone(), r.text());
            assert_eq!(assigned.lines().count(), 1 + 401);
            let r = app.admin(TestRequest::get().uri("/v1/test/licenses/export.json?sort=key")).await;
            let (s, _, json_text) = (r.status, r.headers.clone(), r.text());
            assert_eq!(s, StatusCode::OK);
            let items: Vec<Value> = serde_json::from_str(&json_text).unwrap();
            assert_eq!(items.len(), 1_203);
            let ids: std::collections::HashSet<&str> = items.iter().map(|v| v["id"].as_str().unwrap()).collect();
            assert_eq!(ids.len(), 1_203, "no duplicates across pages");
            for k in &keys {
                assert!(!csv.contains(k.as_str()) && !json_text.contains(k.as_str()), "exports hold masked keys only");
            }
            let r = app.admin(TestRequest::get().uri("/v1/test/licenses/export.json?q=nothing-matches")).await;
            let (_, _, empty) = (r.status, r.headers.clone(), r.text());
            assert_eq!(serde_json::from_str::<Vec<Value>>(&empty).unwrap().len(), 0);
        });
    }
}

both_backends! {
    fn import_is_all_or_nothing_with_a_dry_run(db) {
        block_on(async {
            let app = TestApp::new(&[db]).with_token();
            let f = Fixture::new(db);
            let a = f.available(db);
            let b = f.available(db);
            let csv = format!(
                "key,customer_email,customer_name\n{},new.person@example.com,New Person\n{},{},\n",
                key_of(&a).to_lowercase(), key_of(&b), f.customer.email
            );
            let post = |body: String, q: &str| TestRequest::post().uri(&format!("/v1/test/licenses/import{q}")).insert_header(("content-type", "text/csv")).set_payload(body);
            let Reply { status: s, body: dry, .. } = app.admin(post(csv.clone(), "?dry_run=true")).await;
            assert_eq!((s, dry["applied"].as_bool(), dry["assigned"].as_i64(), dry["customers_created"].as_i64()), (StatusCode::OK, Some(false), Some(2), Some(1)), "{dry}");
            assert_eq!(db.license(a.license.license.id).unwrap().license.status.as_str(), "available", "a dry run changes nothing");
            let bad = format!("{csv}NOPE-0000,x@example.com,X\n");
            let Reply { status: s, body: report, .. } = app.admin(post(bad, "")).await;
            assert_eq!((s, report["errors"].as_i64(), report["applied"].as_bool()), (StatusCode::UNPROCESSABLE_ENTITY, Some(1), Some(false)));
            assert_eq!(report["results"][2]["error"], "no such license");
            assert_eq!(db.license(a.license.license.id).unwrap().license.status.as_str(), "available", "all or nothing");
            let Reply { status: s, body: done, .. } = app.admin(post(csv, "")).await;
            assert_eq!((s, done["applied"].as_bool()), (StatusCode::OK, Some(true)));
            let la = db.license(a.license.license.id).unwrap();
            assert_eq!((la.license.status.as_str(), la.customer.unwrap().email.as_str()), ("assigned", "new.person@example.com"));
            let wrong_type = app.admin(TestRequest::post().uri("/v1/test/licenses/import").set_json(json!({"rows": []}))).await;
            assert_eq!(wrong_type.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        });
    }
}

both_backends! {
    fn stats_and_preview(db) {
        block_on(async {
            let app = TestApp::new(&[db]).with_token();
            let f = Fixture::new(db);
            let lic = f.assigned(db, 3);
            f.available(db);
            let Reply { status: s, body: stats, .. } = app.admin(TestRequest::get().uri("/v1/test/stats")).await;
            assert_eq!((s, stats["total"].as_i64()), (StatusCode::OK, Some(2)));
            assert_eq!(stats["by_status"][0], json!({"status": "available", "count": 1}));
            assert_eq!(stats["by_status"][1], json!({"status": "assigned", "count": 1}));
            assert_eq!(stats["by_product"][0]["count"], 2);
            assert_eq!(stats["activation_limit_average"].as_f64(), Some(4.0));

            let Reply { status: s, body: p, .. } = app.admin(TestRequest::get().uri(&format!("/v1/test/licenses/{}/preview", lic.license.license.id))).await;
            assert_eq!(s, StatusCode::OK, "{p}");
            assert_eq!(p["offline_file"]["format"], "keysmith.license-file.v1");
            let keys = vec![db.active_signing_key().unwrap().public_key()];
            let claims = lease::verify(p["offline_file"]["lease"].as_str().unwrap(), &keys, time::OffsetDateTime::now_utc(), Expect { fingerprint: None, env: Some("test") }).unwrap();
            assert_eq!(claims.lid, lic.license.license.id);
            assert!(claims.exp - claims.iat <= 86_400, "offline files last offline_file_ttl_seconds");
            let revoked = f.assigned(db, 1);
            db.act(&admin(), now(), revoked.license.license.id, license_store::licenses::LicenseAction::Revoke).unwrap();
            let Reply { body: rp, .. } = app.admin(TestRequest::get().uri(&format!("/v1/test/licenses/{}/preview", revoked.license.license.id))).await;
            assert_eq!((rp["offline_file"].clone(), rp["offline_file_refused"].as_str()), (Value::Null, Some("REVOKED")), "no offline file for a revoked license");
            let display = lic.key.display_with(&f.generator.format.lead(&f.product.code));
            for lang in ["curl", "php", "javascript", "python"] {
                let code = p["code_samples"][lang].as_str().unwrap();
                assert!(code.contains("https://licensing.example.com/v1/test/validate"), "{lang}: {code}");
                assert!(code.contains(&display) && !code.contains(key_of(&lic)), "{lang} uses the masked key");
            }
        });
    }
}

#[test]
fn cors_lets_the_configured_origin_in_only() {
    let db = TestDb::sqlite();
    block_on(async {
        let app = TestApp::new(&[&db]).with_token();
        let preflight = |origin: &str| {
            TestRequest::default()
                .method(actix_web::http::Method::OPTIONS)
                .uri("/v1/test/licenses")
                .insert_header(("origin", origin.to_owned()))
                .insert_header(("access-control-request-method", "GET"))
                .insert_header(("access-control-request-headers", "authorization"))
        };
        let r = app.admin(preflight("https://admin.example.com")).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(
            r.headers.get("access-control-allow-origin").unwrap(),
            "https://admin.example.com"
        );
        let r = app.admin(preflight("https://evil.example.net")).await;
        assert!(r.headers.get("access-control-allow-origin").is_none());
    });
}
