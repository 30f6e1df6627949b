//! license-store integration tests. Every behaviour test runs twice, on a fresh SQLite file and
//! on a fresh PostgreSQL database (see `support`), from one body.
#![expect(clippy::unwrap_used, reason = "tests fail loudly on any error")]

mod activation;
mod crash;
mod demo;
mod digests;
mod lifecycle;
mod listing;
mod migrations;
mod mint;
mod sweep;
