//! Webhook delivery of 10,000 events to a receiver on loopback that is down for the first part
//! of the run: checks that every event arrives and none twice per event id, and reports the
//! delivery rate. `cargo bench -p license-http --bench webhooks` (SQLite; figures in
//! docs/benchmarks.md).
#![expect(clippy::unwrap_used, reason = "benchmark harness")]

#[path = "../tests/it/receiver.rs"]
mod receiver;

use std::time::Instant;

use license_core::MasterKey;
use license_http::env::Environment;
use license_store::Store;
use license_store::mint::Batch;
use license_store::testkit::{Fixture, admin, now};
use time::{Duration, OffsetDateTime};

const EVENTS: usize = 10_000;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("hooks.db").display());
    let store = Store::open("bench", &url, &MasterKey::from_bytes([3; 32])).unwrap();
    let (hook_url, seen) = receiver::receiver();
    let (_, secret) = store
        .create_webhook(&admin(), now(), &hook_url, vec!["license.created".into()])
        .unwrap();
    {
        let mut s = seen.lock().unwrap();
        s.secret = secret;
        s.down = true;
    }
    let f = Fixture::new(&store);
    for _ in 0..EVENTS / 500 {
        let batch = Batch {
            generator_id: f.generator.id,
            customer_id: None,
            job: None,
            count: 500,
        };
        store.mint_batch(&admin(), now(), &batch).unwrap();
    }
    let env = Environment::new("bench", store.clone());
    let agent = license_http::webhooks::client();
    // The worker's clock runs ahead of the wall clock so backoffs fall due without sleeping.
    let offset = std::cell::Cell::new(Duration::ZERO);
    let clock = || OffsetDateTime::now_utc() + offset.get();
    let started = Instant::now();
    let mut passes = 0;
    let mut attempts = 0;
    loop {
        let n = license_http::webhooks::pass(&env, &agent, clock);
        attempts += n;
        passes += 1;
        if passes == 3 {
            seen.lock().unwrap().down = false; // the receiver comes back
        }
        if n == 0 {
            if seen.lock().unwrap().delivered.len() == EVENTS {
                break;
            }
            offset.set(offset.get() + Duration::minutes(2));
        }
        assert!(passes < 10_000, "deliveries did not finish");
    }
    let secs = started.elapsed().as_secs_f64();
    let s = seen.lock().unwrap();
    assert_eq!(s.bad_signatures, 0);
    assert_eq!(s.delivered.len(), EVENTS, "every event delivered");
    assert!(
        s.delivered.values().all(|n| *n == 1),
        "no event delivered twice"
    );
    let failed_first: usize = s.attempts.values().filter(|n| **n > 1).count();
    println!(
        "| events | attempts (incl. refused while down) | events first refused | seconds | delivered events/s |"
    );
    println!("|---|---|---|---|---|");
    println!(
        "| {EVENTS} | {attempts} | {failed_first} | {secs:.1} | {:.0} |",
        EVENTS as f64 / secs
    );
}
