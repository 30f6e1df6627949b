//! Webhook delivery of 10,000 events to a receiver on loopback that is down for the first part
//! of the run: checks that every event arrives and none twice per event id, and reports the
//! delivery rate. `cargo bench -p license-http --bench webhooks` (SQLite; figures in
//! docs/benchmarks.md). The same scenario runs as a test (`webhooks::ten_thousand_events...`).
#![expect(clippy::unwrap_used, reason = "benchmark harness")]

#[path = "../tests/it/receiver.rs"]
mod receiver;

use license_core::MasterKey;
use license_store::Store;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("hooks.db").display());
    let store = Store::open("bench", &url, &MasterKey::from_bytes([3; 32])).unwrap();
    let run = receiver::deliver_with_outage(&store, 10_000);
    assert_eq!(run.bad_signatures, 0);
    assert_eq!(run.delivered, run.events, "every event delivered");
    assert_eq!(
        run.most_deliveries_of_one_event, 1,
        "no event delivered twice"
    );
    println!(
        "| events | attempts (incl. refused while down) | events first refused | seconds | delivered events/s |"
    );
    println!("|---|---|---|---|---|");
    println!(
        "| {} | {} | {} | {:.1} | {:.0} |",
        run.events,
        run.attempts,
        run.first_refused,
        run.seconds,
        run.events as f64 / run.seconds
    );
}
