//! Integration tests of license-core's public API (one test binary, as matklad recommends).
#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail the test on any error"
)]

mod vectors;
