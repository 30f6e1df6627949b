//! license-http integration tests: the real actix apps in-process (`actix_web::test`) over real
//! databases (SQLite and PostgreSQL), with leases checked by license-core's verifier against
//! the published `/keys` only.
#![expect(clippy::unwrap_used, reason = "tests fail loudly on any error")]

mod admin;
mod bounded;
mod bulk;
mod client_ip;
mod flood;
mod hardening;
mod openapi;
mod portal;
mod receiver;
mod sessions;
mod startup;
mod support;
mod validation;
mod webhook_safety;
mod webhooks;
mod worker;
