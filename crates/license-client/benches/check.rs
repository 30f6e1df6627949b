//! `Client::check()` with a fresh cached lease, the call a program makes at start-up and every
//! few hours. The set-up proves that it needs no network: the client's server port is closed,
//! yet the answer is `Valid { refreshed: false }`. `first_check_after_start` is the first call
//! of a new client (it verifies the lease's Ed25519 signature); `check_fresh_cached_lease` is
//! every later call (the signature was verified once; time, fingerprint and environment are
//! checked again).
//!
//! `cargo bench -p license-client --bench check`
#![expect(clippy::unwrap_used, reason = "bench set-up: any failure ends the run")]

#[path = "../tests/it/support.rs"]
mod support;

use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use license_client::{Client, Status};

fn check(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let key = support::signing_key(1);
    let now = time::OffsetDateTime::now_utc();
    let lease = key
        .sign(&support::claims(&key, now, time::Duration::days(7)))
        .unwrap();
    support::write_cache(
        dir.path(),
        support::ENV,
        Some(support::KEY),
        Some(&lease),
        &[key.public_key()],
        now.unix_timestamp(),
    );
    let closed = format!("http://127.0.0.1:{}", support::closed_port());
    let build = || {
        Client::builder(&closed, support::ENV)
            .cache_dir(dir.path())
            .fingerprint(support::FP)
            .connect_timeout(Duration::from_millis(200))
            .retries(0)
            .build()
            .unwrap()
    };
    let client = build();
    let proof = |when: &str| match client.check() {
        Ok(Status::Valid {
            refreshed: false, ..
        }) => {}
        other => {
            panic!("{when}: a fresh cached lease must answer Valid without network, got {other:?}")
        }
    };
    proof("before");
    c.bench_function("client/first_check_after_start", |b| {
        b.iter_batched(build, |fresh| fresh.check(), BatchSize::SmallInput)
    });
    c.bench_function("client/check_fresh_cached_lease", |b| {
        b.iter(|| client.check())
    });
    proof("after");
}

criterion_group!(benches, check);
criterion_main!(benches);
