//! Login throttling (SPEC §11): failed sign-ins are counted per client IP and per email; past a
//! few free failures each further attempt must wait twice as long as the last (1 s, 2 s, 4 s, …,
//! at most 15 minutes), answered 429 with `Retry-After`. Counts are forgotten an hour after the
//! last failure and an email's count on a successful sign-in, so there is no permanent lockout an
//! attacker can trigger, only a slowdown. The map is bounded.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use time::{Duration, OffsetDateTime};

/// Failures an email may have from one client before delays start.
pub const FREE_PER_EMAIL: u32 = 5;
/// Failures a client IP may have before delays start (several people may share an address).
pub const FREE_PER_IP: u32 = 20;
/// Failures an email may have from all clients together before its (short) delays start.
pub const FREE_PER_EMAIL_ANYWHERE: u32 = 100;
/// The longest delay for a client (per IP, per email from that IP).
pub const MAX_DELAY: Duration = Duration::minutes(15);
/// The longest delay for an email from anywhere: a slowdown an attacker can cause, not a lockout.
pub const MAX_DELAY_ANYWHERE: Duration = Duration::seconds(30);
/// Longest email kept as a key (longer ones are no email: refused without counting).
pub const MAX_EMAIL: usize = 254;
/// A count is forgotten this long after its last failure.
pub const FORGET_AFTER: Duration = Duration::hours(1);
/// Most keys (emails and IPs) remembered at once.
pub const CAPACITY: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Count {
    failures: u32,
    last: OffsetDateTime,
}

/// The delay owed after `failures` failures with `free` free ones, at most `max`.
fn delay(failures: u32, free: u32, max: Duration) -> Duration {
    match failures.checked_sub(free) {
        None | Some(0) => Duration::ZERO,
        Some(n) => {
            let secs = 1i64
                .checked_shl(n.saturating_sub(1).min(20))
                .unwrap_or(i64::MAX);
            Duration::seconds(secs).min(max)
        }
    }
}

/// The client's address as counted: [`crate::net::bucket`], the unit every limiter counts in
/// (IPv6 by its /64: one host may hold all of it).
fn client(ip: IpAddr) -> String {
    match crate::net::bucket(ip) {
        v4 @ IpAddr::V4(_) => v4.to_string(),
        v6 @ IpAddr::V6(_) => format!("{v6}/{}", crate::net::IPV6_CLIENT_PREFIX),
    }
}

/// The counters, shared by the admin service's workers.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    counts: Mutex<HashMap<String, Count>>,
}

fn keys(ip: IpAddr, email: &str) -> [(String, u32, Duration); 3] {
    let email = email.trim().to_lowercase();
    let ip = client(ip);
    [
        (format!("ip:{ip}"), FREE_PER_IP, MAX_DELAY),
        (format!("email:{email}@{ip}"), FREE_PER_EMAIL, MAX_DELAY),
        (
            format!("email:{email}"),
            FREE_PER_EMAIL_ANYWHERE,
            MAX_DELAY_ANYWHERE,
        ),
    ]
}

fn lock(m: &Mutex<HashMap<String, Count>>) -> std::sync::MutexGuard<'_, HashMap<String, Count>> {
    // A panic elsewhere while holding the lock must not switch throttling off.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl LoginThrottle {
    /// `Err(seconds)` while an attempt from `ip` for `email` must still wait.
    pub fn check(&self, ip: IpAddr, email: &str, now: OffsetDateTime) -> Result<(), u64> {
        let counts = lock(&self.counts);
        let mut wait = Duration::ZERO;
        for (key, free, max) in keys(ip, email) {
            if let Some(c) = counts.get(&key)
                && now - c.last < FORGET_AFTER
            {
                wait = wait.max(c.last + delay(c.failures, free, max) - now);
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
        let mut counts = lock(&self.counts);
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
        for (key, _, _) in keys(ip, email) {
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

    /// Admits an attempt and counts it as a failure at once, under one lock, so parallel
    /// requests cannot all pass before the first failure is recorded; `Err(seconds)` while the
    /// attempt must wait. A right answer then calls [`succeeded`](Self::succeeded) (or
    /// [`forgive`](Self::forgive) when the attempt was neither right nor wrong).
    pub fn attempt(&self, ip: IpAddr, email: &str, now: OffsetDateTime) -> Result<(), u64> {
        if email.len() > MAX_EMAIL {
            return Err(1);
        }
        self.check(ip, email, now)?;
        self.failed(ip, email, now);
        Ok(())
    }

    /// Takes back one counted attempt (it was not a failure).
    pub fn forgive(&self, ip: IpAddr, email: &str) {
        let mut counts = lock(&self.counts);
        for (key, _, _) in keys(ip, email) {
            if let Some(c) = counts.get_mut(&key) {
                c.failures = c.failures.saturating_sub(1);
            }
        }
    }

    /// A successful sign-in forgets the email's failures, from this client and from anywhere,
    /// and takes back the attempt's count on the IP.
    pub fn succeeded(&self, ip: IpAddr, email: &str) {
        let mut counts = lock(&self.counts);
        let [by_ip, here, anywhere] = keys(ip, email);
        counts.remove(&here.0);
        counts.remove(&anywhere.0);
        if let Some(c) = counts.get_mut(&by_ip.0) {
            c.failures = c.failures.saturating_sub(1);
        }
    }

    /// Drops counts older than [`FORGET_AFTER`] (called now and then).
    pub fn prune(&self, now: OffsetDateTime) {
        lock(&self.counts).retain(|_, c| now - c.last < FORGET_AFTER);
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
        let d: Vec<i64> = (0..=20)
            .map(|n| delay(n, 5, MAX_DELAY).whole_seconds())
            .collect();
        assert_eq!(&d[..10], &[0, 0, 0, 0, 0, 0, 1, 2, 4, 8]);
        assert_eq!(d[20], 900);
        assert_eq!(
            delay(200, FREE_PER_EMAIL_ANYWHERE, MAX_DELAY_ANYWHERE).whole_seconds(),
            30
        );
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
        assert!(
            th.check(other, "a@example.com", t0() + Duration::seconds(1))
                .is_ok(),
            "the owner elsewhere is not held back by a stranger's failures"
        );
        th.succeeded(ip, "a@example.com");
        assert!(
            th.check(ip, "a@example.com", t0() + Duration::seconds(1))
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

#[cfg(test)]
mod lockout {
    use super::*;

    fn t0() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    #[test]
    fn a_stranger_hammering_an_email_slows_it_by_30_s_at_most_and_never_locks_it_out() {
        let th = LoginThrottle::default();
        let mut now = t0();
        // An attacker spread over many addresses keeps failing for the victim's email.
        for i in 0..1_000u32 {
            let ip: IpAddr = format!("198.51.{}.{}", i / 250, i % 250).parse().unwrap();
            if th.check(ip, "victim@example.com", now).is_ok() {
                th.failed(ip, "victim@example.com", now);
            }
            now += Duration::seconds(1);
        }
        let owner: IpAddr = "203.0.113.5".parse().unwrap();
        match th.check(owner, "victim@example.com", now) {
            Ok(()) => {}
            Err(wait) => assert!(wait <= 30, "the owner waits {wait} s"),
        }
    }

    #[test]
    fn ipv6_clients_count_per_64() {
        let th = LoginThrottle::default();
        for i in 0..21u16 {
            let ip: IpAddr = format!("2001:db8:1:2::{i:x}").parse().unwrap();
            th.failed(ip, &format!("u{i}@example.com"), t0());
        }
        let same_64: IpAddr = "2001:db8:1:2:ffff::1".parse().unwrap();
        assert!(th.check(same_64, "new@example.com", t0()).is_err());
        let other_64: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(th.check(other_64, "new@example.com", t0()).is_ok());
    }
}
