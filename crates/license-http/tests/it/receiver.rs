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
