//! Webhook delivery against a real HTTP receiver on loopback that checks every signature and
//! fails the first attempts on purpose: every event arrives exactly once per event id, across a
//! restart of the worker between attempts. Time is injected, not slept for.

use license_http::egress::WebhookPolicy;
use license_http::environments::Environment;
use license_http::workers::webhook_delivery::{Deliverer, Options};
use license_store::activation::NewActivation;
use license_store::both_backends;
use license_store::testkit::*;
use time::{Duration, OffsetDateTime};

use crate::receiver::receiver;

/// A delivery worker that may reach loopback (the receivers of these tests).
fn deliverer() -> Deliverer {
    Deliverer::new(&WebhookPolicy::allow_private(), Options::default())
}

both_backends! {
    fn every_event_is_delivered_once_per_id_across_failures_and_a_restart(db) {
        let (url, seen) = receiver();
        let (_, secret) = db.create_webhook(&admin(), now(), &url, vec!["*".into()]).unwrap();
        {
            let mut s = seen.lock().unwrap();
            s.secret = secret;
            s.fail_first = 2;
        }
        let f = Fixture::new(db);
        for i in 0..5 {
            let lic = f.assigned(db, 3);
            let n = NewActivation { fingerprint: fp(&format!("h{i}")), name: None, platform: None, ip: None, metadata: None };
            db.activate(&admin(), now(), key_of(&lic), n, Duration::ZERO).unwrap();
        }
        let total_events = db.events(&Default::default(), license_store::Page::new(500, 0).unwrap()).unwrap().1 as usize;
        assert!(total_events >= 20);

        let mut t = OffsetDateTime::now_utc();
        let mut env = Environment::new("test", db.store.clone());
        let mut worker = deliverer();
        // Two failures per event also trip the endpoint's breaker now and then: run passes until
        // nothing is pending, the worker's clock five minutes apart.
        for round in 0.. {
            if round == 2 {
                env = Environment::new("test", db.reopen()); // the worker restarts between attempts
                worker = deliverer();
            }
            worker.pass(&env, || t);
            t += Duration::minutes(5);
            let hook_id = db.webhooks(license_store::Page::default()).unwrap().0[0].id;
            let (d, _) = db.webhook_deliveries(hook_id, license_store::Page::new(500, 0).unwrap()).unwrap();
            if d.iter().all(|d| d.status != "pending") {
                break;
            }
            assert!(round < 300, "deliveries did not finish");
        }
        let s = seen.lock().unwrap();
        assert_eq!(s.bad_signatures, 0);
        assert_eq!(s.delivered.len(), total_events, "every event arrived");
        assert!(s.delivered.values().all(|n| *n == 1), "once per event id");
        assert!(s.attempts.values().all(|n| *n == 3), "two failures, then success: {:?}", s.attempts.values().collect::<Vec<_>>());
        let hook_id = db.webhooks(license_store::Page::default()).unwrap().0[0].id;
        let (deliveries, n) = db.webhook_deliveries(hook_id, license_store::Page::new(500, 0).unwrap()).unwrap();
        assert_eq!(n as usize, total_events);
        assert!(deliveries.iter().all(|d| d.status == "delivered" && d.attempts == 3 && d.last_status_code == Some(200)));
    }
}

both_backends! {
    fn a_delivery_gives_up_after_24_hours(db) {
        let (url, seen) = receiver();
        let (hook, secret) = db.create_webhook(&admin(), now(), &url, vec!["license.created".into()]).unwrap();
        {
            let mut s = seen.lock().unwrap();
            s.secret = secret;
            s.down = true;
        }
        Fixture::new(db).available(db);
        let worker = deliverer();
        let env = Environment::new("test", db.store.clone());
        let start = OffsetDateTime::now_utc();
        for hours in [0, 1, 3, 8, 20, 25] {
            worker.pass(&env, || start + Duration::hours(hours));
        }
        let (d, _) = db.webhook_deliveries(hook.id, license_store::Page::default()).unwrap();
        assert_eq!((d.len(), d[0].status.as_str()), (1, "failed"));
        assert_eq!(d[0].last_status_code, Some(500));
        assert_eq!(d[0].last_error.as_deref(), Some("http_status"), "a class, never the body");
        let retried = db.retry_delivery(&admin(), now(), d[0].id).unwrap();
        assert_eq!(retried.status, "pending");
        seen.lock().unwrap().down = false;
        // The worker's clock moves on past the endpoint's breaker (open since the last failure).
        worker.pass(&env, || start + Duration::hours(26));
        let (d, _) = db.webhook_deliveries(hook.id, license_store::Page::default()).unwrap();
        assert_eq!(d[0].status, "delivered");
        assert_eq!(seen.lock().unwrap().delivered.len(), 1);
    }
}

both_backends! {
    fn ten_thousand_events_arrive_once_each_after_an_outage(db) {
        let run = crate::receiver::deliver_with_outage(db, 10_000);
        assert_eq!(run.bad_signatures, 0);
        assert_eq!(run.delivered, 10_000, "every event delivered");
        assert_eq!(run.most_deliveries_of_one_event, 1, "none twice per event id");
        assert!(run.first_refused > 0, "the receiver was down at first");
    }
}

both_backends! {
    fn every_listed_event_type_is_one_an_endpoint_may_subscribe_to(db) {
        crate::support::block_on(async {
            let app = crate::support::TestApp::new(&[db]).with_token();
            let r = app.req("GET", "/webhooks/event-types", None).await;
            assert_eq!(r.status, actix_web::http::StatusCode::OK, "{:?}", r.body);
            let types = r.body["items"].clone();
            assert_eq!(r.body["total"].as_u64(), Some(types.as_array().unwrap().len() as u64));
            for t in ["license.created", "license.expiring_soon", "activation.deactivated"] {
                assert!(types.as_array().unwrap().iter().any(|v| v == t), "{t} missing from {types}");
            }
            let created = app.req("POST", "/webhooks", Some(serde_json::json!({"url": "https://hooks.example.com/all", "events": types}))).await;
            assert_eq!(created.status, actix_web::http::StatusCode::CREATED, "{:?}", created.body);
            let unknown = app.req("POST", "/webhooks", Some(serde_json::json!({"url": "https://hooks.example.com/x", "events": ["webhook.ping"]}))).await;
            assert_eq!(unknown.body["error"]["field"], "events", "a ping is not subscribable: {:?}", unknown.body);
        });
    }
}
