//! The admin console in a real browser: headless Chromium driven over WebDriver (chromedriver)
//! against the real `keysmith` binary on a fresh data folder. Elements are found by role and
//! accessible name, never by CSS class. Each page is checked with axe-core (vendored) and
//! photographed at 1280 and 390 px into `target/console-screenshots/`.
//!
//! Without chromedriver the tests print why and pass locally; in CI (`CI` set) they fail.
#![expect(clippy::unwrap_used, reason = "test: any failure fails the test")]

#[path = "../common/mod.rs"]
mod common;

mod catalog;
mod harness;
mod hooks;
mod licenses;
mod mail;
mod people;
mod portal;
