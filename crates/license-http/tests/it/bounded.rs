//! Bounded work per request (issue 17 §5): activation history a page at a time, the churn
//! abuse rule and range-checked abuse settings, and CSV imports bounded in size and written in
//! batches after a check of every row.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use license_store::activation::NewActivation;
use license_store::both_backends;
use license_store::testkit::*;
use serde_json::{Value, json};
use time::Duration;

use crate::support::*;

fn activation(fp: &str) -> NewActivation {
    NewActivation {
        fingerprint: license_core::Fingerprint::new(fp).unwrap(),
        name: None,
        platform: None,
        ip: None,
        metadata: None,
    }
}

both_backends! {
    fn activation_history_and_the_preview_come_a_page_at_a_time(db) {
        block_on(async {
            let app = TestApp::new(&[db]).with_token();
            let lic = Fixture::new(db).assigned(db, 10_000);
            let id = lic.license.license.id;
            let t0 = now();
            // 120 activations, the last 40 in the same microsecond (the id breaks the tie).
            for i in 0..120i64 {
                let at = t0 + Duration::seconds(i.min(80));
                db.activate(&admin(), at, key_of(&lic), activation(&format!("fp-{i:03}")), Duration::ZERO).unwrap();
            }
            let page = |q: String| {
                let app = &app;
                async move { app.req("GET", &format!("/licenses/{id}/activations{q}"), None).await }
            };
            let first = page(String::new()).await;
            assert_eq!(first.status, StatusCode::OK, "{}", first.body);
            assert_eq!((first.body["items"].as_array().unwrap().len(), first.body["total"].as_i64()), (50, Some(120)));
            let mut seen: Vec<String> = Vec::new();
            let mut cursor = first.body["next_cursor"].as_str().map(str::to_owned);
            seen.extend(first.body["items"].as_array().unwrap().iter().map(|a| a["fingerprint"].as_str().unwrap().to_owned()));
            while let Some(c) = cursor {
                let r = page(format!("?limit=30&cursor={c}")).await;
                assert_eq!(r.status, StatusCode::OK, "{}", r.body);
                assert!(r.body["items"].as_array().unwrap().len() <= 30);
                seen.extend(r.body["items"].as_array().unwrap().iter().map(|a| a["fingerprint"].as_str().unwrap().to_owned()));
                cursor = r.body["next_cursor"].as_str().map(str::to_owned);
            }
            let mut sorted = seen.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!((seen.len(), sorted.len()), (120, 120), "every activation once");
            assert_eq!(seen[119], "fp-000", "newest first, oldest last");
            let all = page("?limit=500".into()).await;
            assert_eq!((all.body["items"].as_array().unwrap().len(), &all.body["next_cursor"]), (120, &Value::Null));
            for (q, field) in [("?limit=501", "limit"), ("?limit=0", "limit"), ("?cursor=bogus", "cursor"), ("?offset=3", "offset")] {
                let r = page(q.into()).await;
                assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}");
                assert!(r.text().contains(field), "{q}: {}", r.text());
            }
            let p = app.req("GET", &format!("/licenses/{id}/preview"), None).await;
            assert_eq!(p.status, StatusCode::OK);
            assert_eq!(p.body["activations"].as_array().unwrap().len(), 50);
            assert_eq!(p.body["activations_total"], 120);
            assert_eq!(p.body["activations_next_cursor"], first.body["next_cursor"]);
        });
    }
}

both_backends! {
    fn the_churn_rule_suspends_a_license_activated_and_deactivated_too_often(db) {
        block_on(async {
            let app = TestApp::new(&[db]).with_token();
            let mut s = app.req("GET", "/settings", None).await.body;
            s["abuse"]["max_churn"] = json!(4);
            s["abuse"]["churn_window_minutes"] = json!(10);
            let put = app.req("PUT", "/settings", Some(s)).await;
            assert_eq!(put.status, StatusCode::OK, "{}", put.body);
            let lic = Fixture::new(db).assigned(db, 1);
            let key = key_of(&lic);
            for i in 0..2 {
                let a = app.post("/v1/test/activate", json!({"key": key, "fingerprint": format!("vm-{i}")})).await;
                assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
                let d = app.post("/v1/test/deactivate", json!({"key": key, "fingerprint": format!("vm-{i}")})).await;
                assert_eq!(d.status, StatusCode::OK);
            }
            let l = db.license(lic.license.license.id).unwrap().license;
            assert_eq!(l.status.as_str(), "active", "four changes are within the rule");
            let a = app.post("/v1/test/activate", json!({"key": key, "fingerprint": "vm-9"})).await;
            assert_eq!(a.status, StatusCode::CREATED);
            let l = db.license(lic.license.license.id).unwrap().license;
            assert_eq!(l.status.as_str(), "suspended");
            assert_eq!(l.suspended_reason.as_deref(), Some("abuse rule: more than 4 activations and deactivations within 10 minutes (5)"));
        });
    }
}

#[test]
fn abuse_settings_out_of_range_are_refused_naming_the_field() {
    let db = TestDb::sqlite();
    block_on(async {
        let app = TestApp::new(&[&db]).with_token();
        let base = app.req("GET", "/settings", None).await.body;
        let cases = [
            ("refused_window_minutes", json!(0)),
            ("refused_window_minutes", json!(1441)),
            ("churn_window_minutes", json!(0)),
            ("churn_window_minutes", json!(100_000)),
            ("max_churn", json!(0)),
            ("max_ips_per_hour", json!(1001)),
            ("max_refused_fingerprints", json!(0)),
        ];
        for (field, v) in cases {
            let mut s = base.clone();
            s["abuse"][field] = v.clone();
            let r = app.req("PUT", "/settings", Some(s)).await;
            assert_eq!(
                (r.status, r.error_code()),
                (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_FIELD"),
                "{field} = {v}"
            );
            assert!(r.text().contains(&format!("abuse.{field}")), "{}", r.text());
        }
        // A body of the shape before the churn rule existed is still accepted.
        let old = json!({"grace_period_days": 3, "abuse": {"max_refused_fingerprints": 5, "refused_window_minutes": 60, "max_ips_per_hour": 20}});
        let r = app.req("PUT", "/settings", Some(old)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["abuse"]["max_churn"], Value::Null);
    });
}

fn csv_post(body: String, q: &str) -> TestRequest {
    TestRequest::post()
        .uri(&format!("/v1/test/licenses/import{q}"))
        .insert_header(("content-type", "text/csv"))
        .set_payload(body)
}

#[test]
fn an_import_over_the_limits_is_refused_naming_the_line() {
    let db = TestDb::sqlite();
    block_on(async {
        let app = TestApp::new(&[&db]).with_token();
        let lic = Fixture::new(&db).available(&db);
        let key = key_of(&lic);
        let wide = format!(
            "key,customer_email,customer_name\n{key},a@example.com,A{}\n",
            ",".repeat(16)
        );
        let long = format!(
            "key,customer_email,customer_name\n{key},a@example.com,{}\n",
            "A".repeat(5000)
        );
        let mut many = String::from("key,customer_email\n");
        for _ in 0..100_001 {
            many.push_str(&format!("{key},a@example.com\n"));
        }
        for (csv, want) in [
            (wide, "line 2: 19 columns; a line may have at most 16"),
            (long, "bytes; a line may have at most 4096"),
            (many, "line 100002: more than 100000 rows; split the file"),
        ] {
            let r = app.admin(csv_post(csv, "")).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
            assert!(
                r.text().contains(want) && r.text().contains("line "),
                "{}",
                r.text()
            );
        }
        assert_eq!(
            db.license(lic.license.license.id)
                .unwrap()
                .license
                .status
                .as_str(),
            "available"
        );
    });
}

both_backends! {
    fn an_import_across_batches_reports_the_same_in_a_dry_run_and_applies_every_row(db) {
        block_on(async {
            let app = TestApp::new(&[db]).with_token();
            let f = Fixture::new(db);
            let n = 520; // more than one batch of 500
            let lics: Vec<_> = (0..n).map(|_| f.available(db)).collect();
            let mut csv = String::from("key,customer_email,customer_name\n");
            for (i, l) in lics.iter().enumerate() {
                // Every license for a new customer per 100 rows: the first row creates it, the
                // next 99 reuse it.
                csv.push_str(&format!("{},buyer{}@example.com,Buyer {}\n", key_of(l), i / 100, i / 100));
            }
            // The first license again, for the same customer: unchanged.
            csv.push_str(&format!("{},buyer0@example.com,\n", key_of(&lics[0])));
            let dry = app.admin(csv_post(csv.clone(), "?dry_run=true")).await;
            assert_eq!(dry.status, StatusCode::OK, "{}", dry.body);
            assert_eq!((dry.body["assigned"].as_u64(), dry.body["unchanged"].as_u64(), dry.body["customers_created"].as_u64(), dry.body["rows_applied"].as_u64()), (Some(n as u64), Some(1), Some(6), Some(0)));
            assert_eq!(db.license(lics[0].license.license.id).unwrap().license.status.as_str(), "available", "a dry run writes nothing");
            let done = app.admin(csv_post(csv.clone(), "")).await;
            assert_eq!(done.status, StatusCode::OK, "{}", done.body);
            assert_eq!((done.body["applied"].as_bool(), done.body["rows_applied"].as_u64()), (Some(true), Some(n as u64 + 1)));
            assert_eq!(done.body["results"], dry.body["results"], "the dry run said exactly what happened");
            let last = db.license(lics[n - 1].license.license.id).unwrap();
            assert_eq!((last.license.status.as_str(), last.customer.unwrap().email.as_str()), ("assigned", "buyer5@example.com"));
            let again = app.admin(csv_post(csv, "")).await;
            assert_eq!(again.body["unchanged"].as_u64(), Some(n as u64 + 1), "sending the file again changes nothing");
        });
    }
}
