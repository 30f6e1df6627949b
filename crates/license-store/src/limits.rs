//! The store's size and range limits (SPEC §3, §8), in one place so that every module checks the
//! same numbers. Lease and claim durations stay with the module whose protocol they belong to.

use std::ops::Range;

/// The most rows one write transaction inserts: a mint batch, a batch of customers.
pub const MAX_BATCH: usize = 500;

/// The most licenses one mint job mints.
pub const MAX_JOB: i64 = 100_000;

/// The largest page of a list.
pub const MAX_PAGE: i64 = 500;

/// The longest a lease may be trusted offline, in seconds (7 days).
pub const MAX_LEASE_TTL_SECONDS: i32 = 604_800;

/// The largest serialised metadata or feature-flags object, in bytes (SPEC §3).
pub const MAX_METADATA_BYTES: usize = 10 * 1024;

/// The UTC years a stored time may fall in: the year 9000 and later are refused, so no real
/// expiry reaches the stored lifetime marker (`9999-12-31`).
pub const YEARS: Range<i32> = 1970..9000;
