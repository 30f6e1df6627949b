//! Issue 17 §4: unknown keys must not take the write lock. Over real HTTP (the validation app
//! on a loopback port, a SQLite file): unknown keys on activate and deactivate are answered while
//! another writer holds SQLite's one write lock (before the fix each waited for it, up to the
//! 15 s busy timeout, holding a blocking thread); and a real activation while 32 connections send
//! unknown keys takes no longer than under the same flood on validate, which takes no lock.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use actix_web::HttpServer;
use license_http::config::RateLimits;
use license_http::{Environments, Shared, validation_app};
use license_store::testkit::*;
use serde_json::json;

const FLOOD_CONNECTIONS: usize = 32;
const SAMPLES: usize = 40;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// Starts the validation service over `db` with limits off; returns its base URL.
fn serve(db: &TestDb) -> String {
    db.ensure_signing_key(now()).unwrap();
    let envs = Environments::from_stores([db.store.clone()]);
    let off = RateLimits {
        per_key: None,
        per_ip: None,
        unknown_per_ip: None,
    };
    let shared = Shared::validation(envs, off);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            HttpServer::new(move || validation_app(shared.clone()))
                .workers(2)
                .worker_max_blocking_threads(license_http::BLOCKING_THREADS_PER_WORKER)
                .listen(listener)
                .unwrap()
                .run()
                .await
                .unwrap();
        });
    });
    url
}

/// The median latency of `SAMPLES` activations of new fingerprints, each answered 201.
fn activations(agent: &ureq::Agent, url: &str, key: &str, tag: &str) -> Duration {
    let mut times: Vec<Duration> = (0..SAMPLES)
        .map(|i| {
            let started = Instant::now();
            let r = agent
                .post(&format!("{url}/v1/test/activate"))
                .send_json(json!({"key": key, "fingerprint": format!("{tag}-{i}")}))
                .unwrap();
            let took = started.elapsed();
            assert_eq!(r.status(), 201);
            took
        })
        .collect();
    times.sort();
    times[SAMPLES / 2]
}

/// The median latency of real activations while `FLOOD_CONNECTIONS` connections send unknown
/// keys to `routes` (in turn) as fast as they are answered; and how many unknown keys a second
/// were answered meanwhile.
fn under_flood(
    client: &ureq::Agent,
    url: &str,
    key: &str,
    routes: &'static [&'static str],
) -> (Duration, f64) {
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let flood: Vec<_> = (0..FLOOD_CONNECTIONS)
        .map(|t| {
            let (stop, sent, url) = (stop.clone(), sent.clone(), url.to_owned());
            std::thread::spawn(move || {
                let a = agent();
                let mut n = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let route = routes[n % routes.len()];
                    let r = a
                        .post(&format!("{url}/v1/test/{route}"))
                        .send_json(json!({"key": format!("NOPE-{t}-{n}"), "fingerprint": "x"}))
                        .unwrap();
                    assert_eq!(r.status(), 404);
                    n += 1;
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    while sent.load(Ordering::Relaxed) < FLOOD_CONNECTIONS * 4 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let before = sent.load(Ordering::Relaxed);
    let started = Instant::now();
    let median = activations(client, url, key, routes[0]);
    let rate = (sent.load(Ordering::Relaxed) - before) as f64 / started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in flood {
        t.join().unwrap();
    }
    (median, rate)
}

#[test]
fn unknown_keys_are_answered_while_another_writer_holds_the_lock() {
    let db = TestDb::sqlite();
    let url = serve(&db);
    let lic = Fixture::new(&db).assigned(&db, 5);
    let key = key_of(&lic).to_owned();
    let lock = db.hold_write_lock();
    let answered: Vec<u16> = (0..FLOOD_CONNECTIONS)
        .map(|t| {
            let url = url.clone();
            std::thread::spawn(move || {
                // Far below the 15 s busy timeout an answer waiting for the lock would take.
                let a: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(5)))
                    .build()
                    .into();
                let route = if t % 2 == 0 { "activate" } else { "deactivate" };
                a.post(&format!("{url}/v1/test/{route}"))
                    .send_json(json!({"key": format!("NOPE-{t}"), "fingerprint": "x"}))
                    .map(|r| r.status().as_u16())
                    .unwrap_or_else(|e| {
                        panic!("{route} of an unknown key waited for the write lock: {e}")
                    })
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    assert!(answered.iter().all(|s| *s == 404), "{answered:?}");
    // A known key's fingerprint that has no activation is answered without the lock too.
    let r = agent()
        .post(&format!("{url}/v1/test/deactivate"))
        .send_json(json!({"key": key, "fingerprint": "never-activated"}))
        .unwrap();
    assert_eq!(r.status(), 404);
    drop(lock);
    let r = agent()
        .post(&format!("{url}/v1/test/activate"))
        .send_json(json!({"key": key, "fingerprint": "a"}))
        .unwrap();
    assert_eq!(
        r.status(),
        201,
        "a real activation takes the lock once it is free"
    );
}

#[test]
fn unknown_keys_from_32_connections_do_not_stall_a_real_activation() {
    let db = TestDb::sqlite();
    let url = serve(&db);
    let lic = Fixture::new(&db).assigned(&db, 10_000);
    let key = key_of(&lic).to_owned();
    let client = agent();
    // Warm up (connections, statement caches), then measure idle.
    activations(&client, &url, &key, "warm");
    let idle = activations(&client, &url, &key, "idle");
    // The same flood on validate (reads only) costs the server the same work without any
    // write lock: the latency it leaves is what the machine's CPUs allow.
    let (reads, read_rate) = under_flood(&client, &url, &key, &["validate"]);
    let (writes, write_rate) = under_flood(&client, &url, &key, &["activate", "deactivate"]);
    println!(
        "real activation, median of {SAMPLES}: idle {idle:?}; with {FLOOD_CONNECTIONS} connections \
         of unknown keys to validate {reads:?} ({read_rate:.0}/s answered), to activate and \
         deactivate {writes:?} ({write_rate:.0}/s answered): {:.2}x the validate flood, {:.2}x idle",
        writes.as_secs_f64() / reads.as_secs_f64(),
        writes.as_secs_f64() / idle.as_secs_f64(),
    );
    assert!(
        writes <= reads * 2,
        "unknown keys on activate/deactivate stall a real activation: {writes:?}, against \
         {reads:?} under the same flood on validate ({idle:?} idle)"
    );
    let active = db
        .license(lic.license.license.id)
        .unwrap()
        .license
        .activations_active;
    assert_eq!(active, i32::try_from(4 * SAMPLES).unwrap());
}
