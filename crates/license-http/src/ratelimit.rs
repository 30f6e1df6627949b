//! In-process rate limits of the validation API (SPEC §7): per key digest, per client, and a
//! stricter budget of unknown-key lookups per client so keys cannot be guessed. A limit set to 0
//! is off. Clients are counted by [`crate::net::bucket`] (an IPv6 client by its /64).
//!
//! Each limit is a GCRA token bucket (burst = the per-minute rate, one token back every
//! `60 s / rate`) kept as one "theoretical arrival time" per key, in a map split into shards
//! with a lock each, so requests for different keys rarely meet on a lock. The maps are bounded:
//! a key whose bucket is full again is indistinguishable from a key never seen and is dropped
//! when its shard fills; if a flood of distinct keys keeps a shard full of live buckets, the
//! half closest to full is forgotten (those keys get a fresh budget: the least a forgotten
//! bucket can give away). Memory stays under [`DEFAULT_CAPACITY`] keys per limit whatever the
//! traffic.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::config::RateLimits;
use crate::error::ApiError;
use crate::net::bucket;

/// Most keys one limit remembers at once.
pub const DEFAULT_CAPACITY: usize = 100_000;
const SHARDS: usize = 16;

/// A keyed GCRA limiter with a bounded map.
struct Buckets<K> {
    shards: Box<[Mutex<HashMap<K, u64>>]>,
    hasher: RandomState,
    /// Nanoseconds per token.
    interval: u64,
    /// Nanoseconds of burst: `interval × rate`.
    burst: u64,
    per_shard: usize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere while holding a lock must not switch limiting off.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<K: Hash + Eq + Clone> Buckets<K> {
    fn new(per_minute: u32, capacity: usize) -> Self {
        let interval = 60_000_000_000 / u64::from(per_minute.max(1));
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
            interval,
            burst: interval * u64::from(per_minute.max(1)),
            per_shard: capacity.div_ceil(SHARDS).max(2),
        }
    }

    fn shard(&self, key: &K) -> &Mutex<HashMap<K, u64>> {
        let i = usize::try_from(self.hasher.hash_one(key) % SHARDS as u64).unwrap_or(0);
        &self.shards[i]
    }

    /// Takes a token for `key` at `now` (ns since the limiter's start), or says how long until
    /// one is there.
    fn take(&self, key: &K, now: u64) -> Result<(), Duration> {
        let mut map = lock(self.shard(key));
        let tat = map.get(key).copied().unwrap_or(now).max(now);
        let next = tat + self.interval;
        if next - now > self.burst {
            return Err(Duration::from_nanos(next - now - self.burst));
        }
        if map.len() >= self.per_shard && !map.contains_key(key) {
            self.make_room(&mut map, now);
        }
        map.insert(key.clone(), next);
        Ok(())
    }

    /// How long until `key` has a token again (zero when it has one), without taking it.
    fn wait(&self, key: &K, now: u64) -> Duration {
        let map = lock(self.shard(key));
        match map.get(key) {
            Some(&tat) if tat + self.interval > now + self.burst => {
                Duration::from_nanos(tat + self.interval - now - self.burst)
            }
            _ => Duration::ZERO,
        }
    }

    /// Drops full buckets; if that frees too little, the half of the shard closest to full.
    fn make_room(&self, map: &mut HashMap<K, u64>, now: u64) {
        map.retain(|_, tat| *tat > now);
        if map.len() * 4 > self.per_shard * 3 {
            let mut tats: Vec<u64> = map.values().copied().collect();
            let half = tats.len() / 2;
            let (_, cut, _) = tats.select_nth_unstable(half);
            let cut = *cut;
            map.retain(|_, tat| *tat > cut);
        }
    }

    fn prune(&self, now: u64) {
        for s in &self.shards {
            let mut map = lock(s);
            map.retain(|_, tat| *tat > now);
            map.shrink_to_fit();
        }
    }

    fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }
}

type Keyed<K> = Option<Buckets<K>>;

/// The three limits.
pub struct Limiter {
    per_key: Keyed<[u8; 32]>,
    per_ip: Keyed<IpAddr>,
    unknown: Keyed<IpAddr>,
    start: Instant,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter").finish_non_exhaustive()
    }
}

fn keyed<K: Hash + Eq + Clone>(per_minute: Option<u32>, capacity: usize) -> Keyed<K> {
    per_minute
        .filter(|n| *n > 0)
        .map(|n| Buckets::new(n, capacity))
}

fn retry_after(wait: Duration) -> ApiError {
    ApiError::RateLimited {
        retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
    }
}

impl Limiter {
    /// Limiters for the configured rates, each remembering at most [`DEFAULT_CAPACITY`] keys.
    pub fn new(rates: RateLimits) -> Self {
        Self::with_capacity(rates, DEFAULT_CAPACITY)
    }

    /// Limiters remembering at most `capacity` keys each.
    pub fn with_capacity(rates: RateLimits, capacity: usize) -> Self {
        Self {
            per_key: keyed(rates.per_key, capacity),
            per_ip: keyed(rates.per_ip, capacity),
            unknown: keyed(rates.unknown_per_ip, capacity),
            start: Instant::now(),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Counts a request from `ip`; refused while the client is over its rate, or has no
    /// unknown-key budget left (a guessing client is refused before any lookup).
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), ApiError> {
        let (client, now) = (bucket(ip), self.now());
        if let Some(u) = &self.unknown {
            let wait = u.wait(&client, now);
            if !wait.is_zero() {
                return Err(retry_after(wait));
            }
        }
        match &self.per_ip {
            Some(l) => l.take(&client, now).map_err(retry_after),
            None => Ok(()),
        }
    }

    /// Counts a request for a key (by its digest).
    pub fn check_key(&self, digest: &[u8; 32]) -> Result<(), ApiError> {
        match &self.per_key {
            Some(l) => l.take(digest, self.now()).map_err(retry_after),
            None => Ok(()),
        }
    }

    /// Counts a lookup of an unknown key from `ip`. Over budget, the client is refused entirely
    /// until the budget has a token again, so guessing runs at most at the unknown-key rate.
    pub fn record_unknown(&self, ip: IpAddr) -> Result<(), ApiError> {
        match &self.unknown {
            Some(l) => l.take(&bucket(ip), self.now()).map_err(retry_after),
            None => Ok(()),
        }
    }

    /// Drops the buckets that are full again (called periodically; the maps stay bounded
    /// without it).
    pub fn prune(&self) {
        let now = self.now();
        if let Some(l) = &self.per_key {
            l.prune(now);
        }
        for l in [&self.per_ip, &self.unknown].into_iter().flatten() {
            l.prune(now);
        }
    }

    /// How many keys and clients the limits remember (per key, per client, unknown-key).
    pub fn tracked(&self) -> [usize; 3] {
        [
            self.per_key.as_ref().map_or(0, Buckets::len),
            self.per_ip.as_ref().map_or(0, Buckets::len),
            self.unknown.as_ref().map_or(0, Buckets::len),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rates(per_key: Option<u32>, per_ip: Option<u32>, unknown: Option<u32>) -> RateLimits {
        RateLimits {
            per_key,
            per_ip,
            unknown_per_ip: unknown,
        }
    }

    #[test]
    fn unknown_key_budget_blocks_the_ip() {
        let l = Limiter::new(rates(None, None, Some(3)));
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
        let l = Limiter::new(rates(Some(2), None, None));
        let a = [1u8; 32];
        assert!(l.check_key(&a).is_ok() && l.check_key(&a).is_ok());
        assert!(l.check_key(&a).is_err());
        assert!(l.check_key(&[2u8; 32]).is_ok());
    }

    #[test]
    fn a_bucket_gives_its_burst_then_one_token_per_interval() {
        let b: Buckets<u8> = Buckets::new(60, 100);
        let s = 1_000_000_000;
        for _ in 0..60 {
            b.take(&1, 10 * s).unwrap();
        }
        assert_eq!(b.take(&1, 10 * s), Err(Duration::from_secs(1)));
        assert_eq!(b.wait(&1, 10 * s), Duration::from_secs(1));
        b.take(&1, 11 * s).unwrap();
        assert!(b.take(&1, 11 * s).is_err());
        assert_eq!(b.wait(&1, 71 * s), Duration::ZERO);
        b.prune(71 * s);
        assert_eq!(b.len(), 0, "a full bucket is forgotten");
    }

    #[test]
    fn ipv6_clients_share_a_bucket_per_64() {
        let l = Limiter::new(rates(None, Some(2), None));
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:dead:beef::7".parse().unwrap();
        assert!(l.check_ip(a).is_ok() && l.check_ip(b).is_ok());
        assert!(l.check_ip(a).is_err(), "the same /64");
        assert!(l.check_ip("2001:db8:1:3::1".parse().unwrap()).is_ok());
    }

    #[test]
    fn a_million_distinct_keys_and_clients_stay_within_the_cap() {
        let l = Limiter::new(rates(Some(120), Some(1200), Some(60)));
        for i in 0..1_000_000u32 {
            let mut digest = [0u8; 32];
            digest[..4].copy_from_slice(&i.to_be_bytes());
            l.check_key(&digest).unwrap();
            let ip = IpAddr::V6(std::net::Ipv6Addr::from_bits(
                (0x2001_0db8_u128 << 96) | (u128::from(i) << 64),
            ));
            l.check_ip(ip).unwrap();
            l.record_unknown(ip).unwrap();
            if i % 100_000 == 0 {
                assert!(l.tracked().iter().all(|n| *n <= DEFAULT_CAPACITY));
            }
        }
        let [keys, ips, unknown] = l.tracked();
        println!(
            "after 1,000,000 distinct keys and /64s: {keys} keys, {ips} and {unknown} clients"
        );
        assert!(keys <= DEFAULT_CAPACITY && ips <= DEFAULT_CAPACITY && unknown <= DEFAULT_CAPACITY);
        assert!(keys > 0);
        // A key seen just now is still limited: eviction only forgets the fullest buckets.
        let hot = [0xffu8; 32];
        for _ in 0..120 {
            l.check_key(&hot).unwrap();
        }
        assert!(l.check_key(&hot).is_err());
    }

    #[test]
    fn zero_rates_are_off() {
        let l = Limiter::new(rates(None, None, None));
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..10_000 {
            l.check_ip(ip).unwrap();
            l.record_unknown(ip).unwrap();
            l.check_key(&[0; 32]).unwrap();
        }
        assert_eq!(l.tracked(), [0, 0, 0]);
    }
}
