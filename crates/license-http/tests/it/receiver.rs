//! A webhook receiver on loopback for tests and the delivery bench: checks every signature,
//! fails the first `fail_first` attempts of each event (or everything while `down`), and counts
//! deliveries per event id.
#![allow(
    dead_code,
    reason = "shared by the test binary and the bench, which each use a part"
)]

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use license_http::egress::WebhookPolicy;
use license_http::environments::Environment;
use license_http::workers::webhook_delivery::{Deliverer, Options};
use license_store::Store;
use license_store::mint::Batch;
use license_store::testkit::{Fixture, admin, now};
use time::{Duration, OffsetDateTime};

#[derive(Default)]
pub struct Seen {
    pub secret: String,
    pub fail_first: usize,
    pub down: bool,
    pub attempts: HashMap<String, usize>,
    pub delivered: HashMap<String, usize>,
    /// When each event id was first delivered.
    pub arrived: HashMap<String, std::time::Instant>,
    pub bad_signatures: usize,
}

fn verify(secret: &str, header: &str, body: &str) -> bool {
    let Some((t, v1)) = header.split_once(",v1=") else {
        return false;
    };
    let t: i64 = t.trim_start_matches("t=").parse().unwrap_or(0);
    license_http::workers::webhook_delivery::signature(secret, t, body) == format!("t={t},v1={v1}")
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
    s.arrived
        .entry(id.clone())
        .or_insert_with(std::time::Instant::now);
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

/// What [`deliver_with_outage`] saw.
#[derive(Debug)]
pub struct OutageRun {
    pub events: usize,
    pub attempts: usize,
    pub first_refused: usize,
    pub seconds: f64,
    pub delivered: usize,
    pub most_deliveries_of_one_event: usize,
    pub bad_signatures: usize,
}

/// Mints `events` licenses (one `license.created` event each), points a webhook at a receiver
/// that is down for the first three worker passes, and runs the worker until every event is
/// delivered. The worker's clock runs ahead of the wall clock so backoffs fall due at once.
pub fn deliver_with_outage(store: &Store, events: usize) -> OutageRun {
    let (hook_url, seen) = receiver();
    let (_, secret) = store
        .create_webhook(&admin(), now(), &hook_url, vec!["license.created".into()])
        .unwrap();
    {
        let mut s = seen.lock().unwrap();
        s.secret = secret;
        s.down = true;
    }
    let f = Fixture::new(store);
    for _ in 0..events / 500 {
        let batch = Batch {
            generator_id: f.generator.id,
            customer_id: None,
            job: None,
            count: 500,
        };
        store.mint_batch(&admin(), now(), &batch).unwrap();
    }
    let env = Environment::new(store.env(), store.clone());
    let deliverer = Deliverer::new(&WebhookPolicy::allow_private(), Options::default());
    let offset = std::cell::Cell::new(Duration::ZERO);
    let clock = || OffsetDateTime::now_utc() + offset.get();
    let started = std::time::Instant::now();
    let (mut passes, mut attempts) = (0, 0);
    loop {
        let n = deliverer.pass(&env, clock);
        attempts += n;
        passes += 1;
        if passes == 3 {
            seen.lock().unwrap().down = false;
        }
        if n == 0 {
            if seen.lock().unwrap().delivered.len() >= events {
                break;
            }
            offset.set(offset.get() + Duration::minutes(2));
        }
        assert!(passes < 10_000, "deliveries did not finish");
    }
    let seconds = started.elapsed().as_secs_f64();
    let s = seen.lock().unwrap();
    OutageRun {
        events,
        attempts,
        first_refused: s.attempts.values().filter(|n| **n > 1).count(),
        seconds,
        delivered: s.delivered.len(),
        most_deliveries_of_one_event: s.delivered.values().copied().max().unwrap_or(0),
        bad_signatures: s.bad_signatures,
    }
}
