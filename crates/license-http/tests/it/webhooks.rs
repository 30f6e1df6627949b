//! Webhook delivery against a real HTTP receiver on loopback that checks every signature and
//! fails the first attempts on purpose: every event arrives exactly once per event id, across a
//! restart of the worker between attempts. Time is injected, not slept for.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use license_http::env::Environment;
use license_store::activation::NewActivation;
use license_store::both_backends;
use license_store::testkit::*;
use time::{Duration, OffsetDateTime};

#[derive(Default)]
pub struct Seen {
    pub secret: String,
    pub fail_first: usize,
    pub down: bool,
    pub attempts: HashMap<String, usize>,
    pub delivered: HashMap<String, usize>,
    pub bad_signatures: usize,
}

fn verify(secret: &str, header: &str, body: &str) -> bool {
    let Some((t, v1)) = header.split_once(",v1=") else {
        return false;
    };
    let t: i64 = t.trim_start_matches("t=").parse().unwrap_or(0);
    license_http::webhooks::signature(secret, t, body) == format!("t={t},v1={v1}")
}

async fn hook(req: HttpRequest, body: String, seen: web::Data<Arc<Mutex<Seen>>>) -> HttpResponse {
    let mut s = seen.lock().unwrap();
    let sig = req
        .headers()
        .get("keysmith-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !verify(&s.secret, sig, &body) {
        s.bad_signatures += 1;
        return HttpResponse::BadRequest().finish();
    }
    let id = req
        .headers()
        .get("keysmith-event-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let payload: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        payload["id"].as_str(),
        Some(id.as_str()),
        "the body's id is the event id header"
    );
    let n = {
        let a = s.attempts.entry(id.clone()).or_default();
        *a += 1;
        *a
    };
    if s.down || n <= s.fail_first {
        return HttpResponse::InternalServerError().finish();
    }
    *s.delivered.entry(id).or_default() += 1;
    HttpResponse::Ok().finish()
}

/// Starts the receiver on a free loopback port; returns its URL and what it saw.
pub fn receiver() -> (String, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Seen::default()));
    let data = web::Data::new(seen.clone());
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            HttpServer::new(move || {
                App::new()
                    .app_data(data.clone())
                    .route("/hook", web::post().to(hook))
            })
            .workers(1)
            .listen(listener)
            .unwrap()
            .run()
            .await
            .unwrap();
        });
    });
    (url, seen)
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

        let agent = license_http::webhooks::client();
        let mut t = OffsetDateTime::now_utc();
        let mut env = Environment::new("test", db.store.clone());
        for round in 0..8 {
            if round == 2 {
                env = Environment::new("test", db.reopen()); // the worker restarts between attempts
            }
            license_http::webhooks::pass(&env, &agent, || t);
            t += Duration::minutes(5);
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
        let agent = license_http::webhooks::client();
        let env = Environment::new("test", db.store.clone());
        let start = OffsetDateTime::now_utc();
        for hours in [0, 1, 3, 8, 20, 25] {
            license_http::webhooks::pass(&env, &agent, || start + Duration::hours(hours));
        }
        let (d, _) = db.webhook_deliveries(hook.id, license_store::Page::default()).unwrap();
        assert_eq!((d.len(), d[0].status.as_str()), (1, "failed"));
        assert_eq!(d[0].last_status_code, Some(500));
        let retried = db.retry_delivery(&admin(), now(), d[0].id).unwrap();
        assert_eq!(retried.status, "pending");
        seen.lock().unwrap().down = false;
        license_http::webhooks::pass(&env, &agent, OffsetDateTime::now_utc);
        let (d, _) = db.webhook_deliveries(hook.id, license_store::Page::default()).unwrap();
        assert_eq!(d[0].status, "delivered");
        assert_eq!(seen.lock().unwrap().delivered.len(), 1);
    }
}
