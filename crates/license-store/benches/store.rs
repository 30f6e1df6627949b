//! Store throughput and latency on a realistic database, on SQLite and PostgreSQL:
//! bulk minting (licenses/s), validate lookups by digest (/s), activations (/s), and list/search
//! latency (p50/p95) on 1,000,000 licenses and 100,000 customers.
//!
//! `cargo bench -p license-store --bench store` (sizes: `KEYSMITH_BENCH_LICENSES`,
//! `KEYSMITH_BENCH_CUSTOMERS`; backends: `KEYSMITH_BENCH_BACKENDS=sqlite,postgres`; PostgreSQL
//! server: `KEYSMITH_TEST_PG_URL`). Prints a Markdown table for docs/benchmarks.md.
#![expect(clippy::unwrap_used, clippy::expect_used, reason = "benchmark harness")]

use std::time::{Duration as StdDuration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use license_core::{Fingerprint, KeyFormat, LicenseKey, LicenseStatus, MasterKey};
use license_store::activation::NewActivation;
use license_store::customers::NewCustomer;
use license_store::generators::NewGenerator;
use license_store::mint::Batch;
use license_store::model::{ExpiryBasis, stored};
use license_store::products::NewProduct;
use license_store::search::{LicenseFilter, LicenseSort};
use license_store::{Actor, Page, Store};
use time::{Duration, OffsetDateTime};

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn now() -> OffsetDateTime {
    stored(OffsetDateTime::now_utc())
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

struct Report {
    rows: Vec<(String, String)>,
}

impl Report {
    fn add(&mut self, what: impl Into<String>, value: impl Into<String>) {
        let (w, v) = (what.into(), value.into());
        eprintln!("  {w}: {v}");
        self.rows.push((w, v));
    }
}

fn run(backend: &str, url: &str, licenses: usize, customers: usize) -> Report {
    let mut r = Report { rows: Vec::new() };
    let master = MasterKey::from_bytes([9; 32]);
    let store = Store::open("bench", url, &master).unwrap();
    let actor = Actor::named("bench", "bench");
    eprintln!("== {backend}: seeding {customers} customers, {licenses} licenses");

    let product = store
        .create_product(
            &actor,
            now(),
            NewProduct {
                name: "Acme Studio".into(),
                code: "ACME".into(),
                metadata: None,
            },
        )
        .unwrap();
    let generator = store
        .create_generator(
            &actor,
            now(),
            NewGenerator {
                product_id: product.id,
                name: "default".into(),
                format: KeyFormat::Chunked {
                    chunks: 4,
                    chunk_len: 4,
                    check: true,
                },
                default_activation_limit: Some(5),
                default_validity_days: Some(365),
                expiry_basis: Some(ExpiryBasis::Creation),
                default_feature_flags: None,
                lease_ttl_seconds: None,
            },
        )
        .unwrap();

    let t = Instant::now();
    let mut all_customers = Vec::with_capacity(customers);
    for chunk in (0..customers).collect::<Vec<_>>().chunks(500) {
        let batch = chunk
            .iter()
            .map(|i| NewCustomer {
                name: format!("Customer {i:06}"),
                email: format!("user{i:06}@company{:04}.example", i % 5000),
                metadata: None,
            })
            .collect();
        all_customers.extend(store.create_customers(&actor, now(), batch).unwrap());
    }
    r.add(
        "customers inserted/s (500 per transaction)",
        format!("{:.0}", customers as f64 / t.elapsed().as_secs_f64()),
    );

    // Bulk mint: every other batch assigned to a customer (so 1 license in 2 has a customer).
    let batches = licenses / 500;
    let mut sample_keys: Vec<LicenseKey> = Vec::new();
    let mut assigned_keys: Vec<LicenseKey> = Vec::new();
    let t = Instant::now();
    for b in 0..batches {
        let customer_id = (b % 2 == 1).then(|| all_customers[(b * 37) % all_customers.len()].id);
        let minted = store
            .mint_batch(
                &actor,
                now(),
                &Batch {
                    generator_id: generator.id,
                    customer_id,
                    job: None,
                    count: 500,
                },
            )
            .unwrap();
        if b % 20 == 0 {
            sample_keys.extend(minted.iter().take(50).map(|(_, k)| k.clone()));
        }
        if customer_id.is_some() && assigned_keys.len() < 20_000 {
            assigned_keys.extend(minted.into_iter().map(|(_, k)| k));
        }
    }
    let mint_rate = (batches * 500) as f64 / t.elapsed().as_secs_f64();
    r.add(
        "bulk mint, licenses/s (500 per transaction, with one event each)",
        format!("{mint_rate:.0}"),
    );
    // PostgreSQL plans from statistics its autovacuum would gather over time; gather them now.
    // SQLite is left as Keysmith runs it: without ANALYZE (with STAT4 statistics, SQLite
    // re-prepares every statement whose bound value meets an index, defeating statement caching).
    if store.is_postgres() {
        store.conn().unwrap().batch_execute("ANALYZE").unwrap();
    }

    // Validate by digest: one thread, two (one per core of the standard machine), sixteen (as
    // many as the PostgreSQL pool has connections: the most it can have in flight). The HTTP
    // validate can never beat these rates: they are the store alone, without the network.
    let grace = Duration::ZERO;
    for threads in [1usize, 2, 16] {
        let per_thread = 40_000 / threads;
        let t = Instant::now();
        std::thread::scope(|s| {
            for th in 0..threads {
                let (store, keys, actor) = (&store, &sample_keys, &actor);
                s.spawn(move || {
                    for i in 0..per_thread {
                        let k = &keys[(i * 7 + th * 13) % keys.len()];
                        let a = store
                            .validate(actor, now(), k.expose(), None, None, grace)
                            .unwrap();
                        assert!(a.license.is_some());
                    }
                });
            }
        });
        let rate = (threads * per_thread) as f64 / t.elapsed().as_secs_f64();
        r.add(
            format!(
                "validate by digest, lookups/s ({threads} thread{})",
                if threads > 1 { "s" } else { "" }
            ),
            format!("{rate:.0}"),
        );
    }

    // Activations of new fingerprints on assigned licenses (limit 5, so 4 per license).
    for threads in [1usize, 2] {
        let per_thread = 2_000;
        let t = Instant::now();
        std::thread::scope(|s| {
            for th in 0..threads {
                let (store, keys, actor) = (&store, &assigned_keys, &actor);
                s.spawn(move || {
                    for i in 0..per_thread {
                        let k = &keys[(th * per_thread + i) / 4 + threads * 5_000 % keys.len()];
                        let n = NewActivation {
                            fingerprint: Fingerprint::new(&format!("bench-{threads}-{th}-{i}"))
                                .unwrap(),
                            name: None,
                            platform: None,
                            ip: None,
                            metadata: None,
                        };
                        let a = store.activate(actor, now(), k.expose(), n, grace).unwrap();
                        assert!(a.decision.outcome.is_success(), "{:?}", a.decision.outcome);
                    }
                });
            }
        });
        let rate = (threads * per_thread) as f64 / t.elapsed().as_secs_f64();
        r.add(
            format!(
                "activations/s ({threads} thread{})",
                if threads > 1 { "s" } else { "" }
            ),
            format!("{rate:.0}"),
        );
    }

    // List and search latency over a mix of operator queries.
    let probe = &all_customers[37];
    let full_key = sample_keys[3].expose().to_owned();
    let prefix: String = sample_keys[5].expose().chars().take(8).collect();
    let last4 = sample_keys[9].last4().to_owned();
    let queries: Vec<(&str, LicenseFilter)> = vec![
        (
            "list, newest first",
            LicenseFilter {
                desc: true,
                ..Default::default()
            },
        ),
        (
            "filter status=assigned",
            LicenseFilter {
                status: Some(LicenseStatus::Assigned),
                ..Default::default()
            },
        ),
        (
            "sort expires asc",
            LicenseFilter {
                sort: LicenseSort::Expires,
                ..Default::default()
            },
        ),
        (
            "sort status desc",
            LicenseFilter {
                sort: LicenseSort::Status,
                desc: true,
                ..Default::default()
            },
        ),
        (
            "search customer email",
            LicenseFilter {
                q: Some(probe.email.clone()),
                ..Default::default()
            },
        ),
        (
            "search customer name",
            LicenseFilter {
                q: Some(probe.name.clone()),
                ..Default::default()
            },
        ),
        (
            "search email domain",
            LicenseFilter {
                q: Some("company0037.example".into()),
                ..Default::default()
            },
        ),
        (
            "search full key",
            LicenseFilter {
                q: Some(full_key),
                ..Default::default()
            },
        ),
        (
            "search key prefix",
            LicenseFilter {
                q: Some(prefix),
                ..Default::default()
            },
        ),
        (
            "search last 4",
            LicenseFilter {
                q: Some(last4),
                ..Default::default()
            },
        ),
        (
            "filter customer",
            LicenseFilter {
                customer: Some(probe.id),
                ..Default::default()
            },
        ),
    ];
    let page = Page::new(50, 0).unwrap();
    let mut all = Vec::new();
    for (name, f) in &queries {
        let mut times = Vec::new();
        for _ in 0..30 {
            let t = Instant::now();
            let (_, total) = store.licenses(f, page).unwrap();
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            std::hint::black_box(total);
        }
        times.sort_by(f64::total_cmp);
        let (_, total) = store.licenses(f, page).unwrap();
        r.add(
            format!("list: {name} (total {total})"),
            format!(
                "p50 {:.2} ms, p95 {:.2} ms",
                pct(&times, 0.5),
                pct(&times, 0.95)
            ),
        );
        all.extend(times);
    }
    all.sort_by(f64::total_cmp);
    r.add(
        "list/search, all queries above",
        format!(
            "p50 {:.2} ms, p95 {:.2} ms",
            pct(&all, 0.5),
            pct(&all, 0.95)
        ),
    );
    let _ = StdDuration::ZERO;
    r
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let licenses = env_num("KEYSMITH_BENCH_LICENSES", 1_000_000);
    let customers = env_num("KEYSMITH_BENCH_CUSTOMERS", 100_000);
    let backends =
        std::env::var("KEYSMITH_BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    let mut reports = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    for backend in backends.split(',') {
        match backend {
            "sqlite" => {
                let url = format!("sqlite://{}", dir.path().join("bench.db").display());
                reports.push(("SQLite", run("sqlite", &url, licenses, customers)));
            }
            "postgres" => {
                let admin_url = std::env::var("KEYSMITH_TEST_PG_URL")
                    .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
                let mut admin =
                    diesel::PgConnection::establish(&admin_url).expect("PostgreSQL for the bench");
                let name = format!("keysmith_bench_{}", uuid::Uuid::new_v4().simple());
                admin
                    .batch_execute(&format!("CREATE DATABASE {name}"))
                    .unwrap();
                let url = format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0);
                reports.push(("PostgreSQL", run("postgres", &url, licenses, customers)));
                admin
                    .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
                    .unwrap();
            }
            other => panic!("unknown backend {other}"),
        }
    }
    println!("\n{licenses} licenses, {customers} customers\n");
    let names: Vec<&str> = reports.iter().map(|(n, _)| *n).collect();
    println!("| measure | {} |", names.join(" | "));
    println!("|---|{}", "---|".repeat(names.len()));
    for i in 0..reports[0].1.rows.len() {
        let cells: Vec<&str> = reports.iter().map(|(_, r)| r.rows[i].1.as_str()).collect();
        println!("| {} | {} |", reports[0].1.rows[i].0, cells.join(" | "));
    }
}
