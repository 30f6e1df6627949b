//! In-process rate limits of the validation API (SPEC §7): per key digest, per client IP, and a
//! stricter budget of unknown-key lookups per IP so keys cannot be guessed. GCRA token buckets
//! from `governor`; a limit set to 0 is off.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::RateLimits;
use crate::error::ApiError;

type Keyed<K> = Option<DefaultKeyedRateLimiter<K>>;

/// The three limiters and the IPs blocked for guessing.
pub struct Limiter {
    per_key: Keyed<[u8; 32]>,
    per_ip: Keyed<IpAddr>,
    unknown: Keyed<IpAddr>,
    blocked: Mutex<HashMap<IpAddr, Instant>>,
    clock: DefaultClock,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter").finish_non_exhaustive()
    }
}

fn keyed<K: std::hash::Hash + Eq + Clone>(per_minute: Option<u32>) -> Keyed<K> {
    per_minute
        .and_then(NonZeroU32::new)
        .map(|n| RateLimiter::keyed(Quota::per_minute(n)))
}

fn retry_after(wait: Duration) -> ApiError {
    ApiError::RateLimited {
        retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
    }
}

impl Limiter {
    /// Limiters for the configured rates.
    pub fn new(rates: RateLimits) -> Self {
        Self {
            per_key: keyed(rates.per_key),
            per_ip: keyed(rates.per_ip),
            unknown: keyed(rates.unknown_per_ip),
            blocked: Mutex::new(HashMap::new()),
            clock: DefaultClock::default(),
        }
    }

    /// Counts a request from `ip`; refused while the IP is over its rate or blocked for guessing.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), ApiError> {
        if let Ok(mut blocked) = self.blocked.lock()
            && let Some(until) = blocked.get(&ip).copied()
        {
            let now = Instant::now();
            if until > now {
                return Err(retry_after(until - now));
            }
            blocked.remove(&ip);
        }
        match &self.per_ip {
            Some(l) => l
                .check_key(&ip)
                .map_err(|n| retry_after(n.wait_time_from(self.clock.now()))),
            None => Ok(()),
        }
    }

    /// Counts a request for a key (by its digest).
    pub fn check_key(&self, digest: &[u8; 32]) -> Result<(), ApiError> {
        match &self.per_key {
            Some(l) => l
                .check_key(digest)
                .map_err(|n| retry_after(n.wait_time_from(self.clock.now()))),
            None => Ok(()),
        }
    }

    /// Counts a lookup of an unknown key from `ip`. Over budget, the IP is refused entirely until
    /// the budget has a token again, so guessing runs at most at the unknown-key rate.
    pub fn record_unknown(&self, ip: IpAddr) -> Result<(), ApiError> {
        let Some(l) = &self.unknown else {
            return Ok(());
        };
        l.check_key(&ip).map_err(|n| {
            let wait = n.wait_time_from(self.clock.now());
            if let Ok(mut blocked) = self.blocked.lock() {
                blocked.insert(ip, Instant::now() + wait);
            }
            retry_after(wait)
        })
    }

    /// Drops state of keys and IPs not seen recently (called periodically).
    pub fn prune(&self) {
        for l in [&self.per_ip, &self.unknown].into_iter().flatten() {
            l.retain_recent();
            l.shrink_to_fit();
        }
        if let Some(l) = &self.per_key {
            l.retain_recent();
            l.shrink_to_fit();
        }
        if let Ok(mut b) = self.blocked.lock() {
            let now = Instant::now();
            b.retain(|_, until| *until > now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_budget_blocks_the_ip() {
        let l = Limiter::new(RateLimits {
            per_key: None,
            per_ip: None,
            unknown_per_ip: Some(3),
        });
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..3 {
            l.check_ip(ip).unwrap();
            l.record_unknown(ip).unwrap();
        }
        assert!(
            matches!(l.record_unknown(ip), Err(ApiError::RateLimited { retry_after_secs }) if retry_after_secs >= 1)
        );
        assert!(
            l.check_ip(ip).is_err(),
            "a guessing IP is refused before any lookup"
        );
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(l.check_ip(other).is_ok());
    }

    #[test]
    fn per_key_limit_counts_each_digest() {
        let l = Limiter::new(RateLimits {
            per_key: Some(2),
            per_ip: None,
            unknown_per_ip: None,
        });
        let a = [1u8; 32];
        assert!(l.check_key(&a).is_ok() && l.check_key(&a).is_ok());
        assert!(l.check_key(&a).is_err());
        assert!(l.check_key(&[2u8; 32]).is_ok());
    }

    #[test]
    fn zero_rates_are_off() {
        let l = Limiter::new(RateLimits {
            per_key: None,
            per_ip: None,
            unknown_per_ip: None,
        });
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..10_000 {
            l.check_ip(ip).unwrap();
            l.record_unknown(ip).unwrap();
            l.check_key(&[0; 32]).unwrap();
        }
    }
}
