//! Login throttling (SPEC §11): failed sign-ins are counted per client IP and per email; past a
//! few free failures each further attempt must wait twice as long as the last (1 s, 2 s, 4 s, …,
//! at most 15 minutes), answered 429 with `Retry-After`. Counts are forgotten an hour after the
//! last failure and an email's count on a successful sign-in, so there is no permanent lockout an
//! attacker can trigger, only a slowdown. The map is bounded.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use time::{Duration, OffsetDateTime};

/// Failures an email may have before delays start.
pub const FREE_PER_EMAIL: u32 = 5;
/// Failures a client IP may have before delays start (several people may share an address).
pub const FREE_PER_IP: u32 = 20;
/// The longest delay.
pub const MAX_DELAY: Duration = Duration::minutes(15);
/// A count is forgotten this long after its last failure.
pub const FORGET_AFTER: Duration = Duration::hours(1);
/// Most keys (emails and IPs) remembered at once.
pub const CAPACITY: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Count {
    failures: u32,
    last: OffsetDateTime,
}

/// The delay owed after `failures` failures with `free` free ones.
fn delay(failures: u32, free: u32) -> Duration {
    match failures.checked_sub(free) {
        None | Some(0) => Duration::ZERO,
        Some(n) => {
            let secs = 1i64
                .checked_shl(n.saturating_sub(1).min(20))
                .unwrap_or(i64::MAX);
            Duration::seconds(secs).min(MAX_DELAY)
        }
    }
}

/// The counters, shared by the admin service's workers.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    counts: Mutex<HashMap<String, Count>>,
}

fn keys(ip: IpAddr, email: &str) -> [(String, u32); 2] {
    [
        (format!("ip:{ip}"), FREE_PER_IP),
        (
            format!("email:{}", email.trim().to_lowercase()),
            FREE_PER_EMAIL,
        ),
    ]
}

impl LoginThrottle {
    /// `Err(seconds)` while an attempt from `ip` for `email` must still wait.
    pub fn check(&self, ip: IpAddr, email: &str, now: OffsetDateTime) -> Result<(), u64> {
        let Ok(counts) = self.counts.lock() else {
            return Ok(());
        };
        let mut wait = Duration::ZERO;
        for (key, free) in keys(ip, email) {
            if let Some(c) = counts.get(&key)
                && now - c.last < FORGET_AFTER
            {
                wait = wait.max(c.last + delay(c.failures, free) - now);
            }
        }
        if wait > Duration::ZERO {
            Err(u64::try_from(wait.whole_seconds()).unwrap_or(0).max(1))
        } else {
            Ok(())
        }
    }

    /// Counts a failed attempt.
    pub fn failed(&self, ip: IpAddr, email: &str, now: OffsetDateTime) {
        let Ok(mut counts) = self.counts.lock() else {
            return;
        };
        if counts.len() >= CAPACITY {
            counts.retain(|_, c| now - c.last < FORGET_AFTER);
            if counts.len() >= CAPACITY {
                // Still full of recent entries: keep the busier half (an attacker's spread of
                // one-off emails goes first).
                let mut failures: Vec<u32> = counts.values().map(|c| c.failures).collect();
                failures.sort_unstable();
                let median = failures[failures.len() / 2];
                counts.retain(|_, c| c.failures > median);
            }
        }
        for (key, _) in keys(ip, email) {
            let c = counts.entry(key).or_insert(Count {
                failures: 0,
                last: now,
            });
            if now - c.last >= FORGET_AFTER {
                c.failures = 0;
            }
            c.failures = c.failures.saturating_add(1);
            c.last = now;
        }
    }

    /// A successful sign-in forgets the email's failures (not the IP's).
    pub fn succeeded(&self, email: &str) {
        if let Ok(mut counts) = self.counts.lock() {
            counts.remove(&format!("email:{}", email.trim().to_lowercase()));
        }
    }

    /// Drops counts older than [`FORGET_AFTER`] (called now and then).
    pub fn prune(&self, now: OffsetDateTime) {
        if let Ok(mut counts) = self.counts.lock() {
            counts.retain(|_, c| now - c.last < FORGET_AFTER);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    #[test]
    fn delays_double_after_the_free_failures_and_cap_at_15_minutes() {
        let d: Vec<i64> = (0..=20).map(|n| delay(n, 5).whole_seconds()).collect();
        assert_eq!(&d[..10], &[0, 0, 0, 0, 0, 0, 1, 2, 4, 8]);
        assert_eq!(d[20], 900);
    }

    #[test]
    fn an_email_is_slowed_after_five_failures_and_forgotten_on_success() {
        let th = LoginThrottle::default();
        let ip: IpAddr = "198.51.100.1".parse().unwrap();
        for _ in 0..5 {
            assert!(th.check(ip, "a@example.com", t0()).is_ok());
            th.failed(ip, "a@example.com", t0());
        }
        assert!(th.check(ip, "a@example.com", t0()).is_ok(), "five are free");
        th.failed(ip, "a@example.com", t0());
        assert_eq!(
            th.check(ip, "A@example.com", t0()),
            Err(1),
            "any case of the email"
        );
        assert!(
            th.check(ip, "a@example.com", t0() + Duration::seconds(1))
                .is_ok()
        );
        th.failed(ip, "a@example.com", t0() + Duration::seconds(1));
        assert_eq!(
            th.check(ip, "a@example.com", t0() + Duration::seconds(1)),
            Err(2)
        );
        let other: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(
            th.check(other, "a@example.com", t0() + Duration::seconds(1)),
            Err(2),
            "per email, whatever the IP"
        );
        th.succeeded("a@example.com");
        assert!(
            th.check(other, "a@example.com", t0() + Duration::seconds(1))
                .is_ok()
        );
    }

    #[test]
    fn counts_are_forgotten_an_hour_after_the_last_failure() {
        let th = LoginThrottle::default();
        let ip: IpAddr = "198.51.100.1".parse().unwrap();
        for _ in 0..12 {
            th.failed(ip, "b@example.com", t0());
        }
        assert!(th.check(ip, "b@example.com", t0()).is_err());
        assert!(th.check(ip, "b@example.com", t0() + FORGET_AFTER).is_ok());
    }

    #[test]
    fn an_ip_spraying_many_emails_is_slowed_after_twenty() {
        let th = LoginThrottle::default();
        let ip: IpAddr = "198.51.100.2".parse().unwrap();
        for i in 0..21 {
            th.failed(ip, &format!("u{i}@example.com"), t0());
        }
        assert_eq!(th.check(ip, "new@example.com", t0()), Err(1));
    }
}
