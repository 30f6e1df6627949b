//! The license client's integration tests, one binary: the shared lease vectors through the
//! client, the cache and the clock with no server at all, and the HTTP rules (retries,
//! `Retry-After`, what counts as an answer) against a canned server.
#![expect(clippy::unwrap_used, reason = "tests fail loudly on any error")]

mod http;
mod offline;
mod support;
mod vectors;
