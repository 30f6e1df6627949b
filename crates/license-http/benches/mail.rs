//! Email throughput from the outbox: N licenses assigned with `email_key_on_assign` on, then the
//! mail worker's passes (fan-out, claim, render, SMTP to a real server on loopback — the test
//! sink —, record) until every mail has arrived, none twice. Reports mails per second on SQLite
//! and, when one is reachable, PostgreSQL. `cargo bench -p license-http --bench mail [N]`
//! (default 5,000; figures in docs/benchmarks.md).
#![expect(clippy::unwrap_used, reason = "benchmark harness")]

use std::collections::HashSet;
use std::time::{Duration, Instant};

use license_http::environments::Environment;
use license_http::mailer::{MailConfig, Mailer};
use license_http::smtp_sink::SmtpSink;
use license_http::workers::mail_delivery;
use license_store::settings::Settings;
use license_store::testkit::{Fixture, TestDb, admin, now};

fn run(backend: &str, db: &TestDb, n: usize) {
    let store = &db.store;
    let settings = Settings {
        email_key_on_assign: true,
        ..Settings::default()
    };
    store.put_settings(&admin(), now(), &settings).unwrap();
    let f = Fixture::new(store);
    for _ in 0..n {
        let mut l = f.new_license();
        l.customer_id = Some(f.customer.id);
        store.create_license(&admin(), now(), l).unwrap();
    }
    let sink = SmtpSink::start();
    let mailer =
        Mailer::new(&MailConfig::new(&sink.url(), "Bench <bench@example.com>").unwrap()).unwrap();
    let env = Environment::new(store.env(), store.clone());
    let started = Instant::now();
    let mut sent = 0;
    while sent < n {
        sent += mail_delivery::pass(
            &env,
            &mailer,
            "http://127.0.0.1:8081",
            &time::OffsetDateTime::now_utc,
        );
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "stuck at {sent}"
        );
    }
    let seconds = started.elapsed().as_secs_f64();
    let mails = sink.wait_for(n, Duration::from_secs(10));
    assert_eq!(mails.len(), n, "every mail arrived");
    let distinct: HashSet<String> = mails.iter().map(|m| m.text()).collect();
    assert_eq!(distinct.len(), n, "no mail twice (each holds its own key)");
    println!(
        "| {backend} | {n} | {seconds:.2} | {:.0} |",
        n as f64 / seconds
    );
}

fn main() {
    let n = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5_000);
    println!("| backend | mails | seconds | mails/s |");
    println!("|---|---|---|---|");
    run("SQLite", &TestDb::sqlite(), n);
    match TestDb::postgres() {
        Some(db) => run("PostgreSQL", &db, n),
        None => println!("(PostgreSQL not reachable at KEYSMITH_TEST_PG_URL: skipped)"),
    }
}
