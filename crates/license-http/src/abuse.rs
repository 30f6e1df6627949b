//! Abuse detection (SPEC §9): in-memory counters per license, fed by the validation API, so a
//! request adds no database write. Crossing a rule of the environment's settings suspends the
//! license (actor `abuse-detector`, the rule as `suspended_reason`, with its audit entry and
//! `license.suspended` event). Counters are per process: with several validation instances each
//! applies the rule to the traffic it sees.
//!
//! No global lock on the request path: licenses are spread over shards with a lock each, held
//! for a few map operations. Memory is bounded twice: a license's counters hold at most a rule's
//! threshold + 1 entries (crossing it fires the rule and forgets them; thresholds are at most
//! [`MAX_ABUSE_THRESHOLD`]), and the whole detector at most [`DEFAULT_CAPACITY`] entries — past
//! that the licenses seen longest ago are forgotten first. Only licenses that exist reach the
//! detector (an unknown key is answered before it), so a flood of made-up keys adds nothing.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};

use license_store::settings::{AbuseRules, MAX_ABUSE_THRESHOLD, MAX_ABUSE_WINDOW_MINUTES};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::net::bucket;

/// Most entries (refused fingerprints, client IPs, churn events) remembered across licenses.
pub const DEFAULT_CAPACITY: usize = 200_000;
const SHARDS: usize = 16;
const DEFAULT_WINDOW_MINUTES: u32 = 60;

/// One license's recent history.
#[derive(Debug)]
struct Counters {
    /// Fingerprints (hashed) refused for `LIMIT_EXCEEDED`, with when last refused.
    refused: HashMap<u64, OffsetDateTime>,
    /// Clients (per [`bucket`]) that validated it, with when last.
    ips: HashMap<IpAddr, OffsetDateTime>,
    /// Activations and deactivations.
    churn: VecDeque<OffsetDateTime>,
    last: OffsetDateTime,
}

impl Counters {
    fn new(now: OffsetDateTime) -> Self {
        Self {
            refused: HashMap::new(),
            ips: HashMap::new(),
            churn: VecDeque::new(),
            last: now,
        }
    }

    fn entries(&self) -> usize {
        self.refused.len() + self.ips.len() + self.churn.len()
    }

    /// Forgets what every rule's longest window has passed.
    fn forget_before(&mut self, now: OffsetDateTime) {
        let day = Duration::minutes(i64::from(MAX_ABUSE_WINDOW_MINUTES));
        self.refused.retain(|_, t| now - *t < day);
        self.ips.retain(|_, t| now - *t < Duration::hours(1));
        while self.churn.front().is_some_and(|t| now - *t >= day) {
            self.churn.pop_front();
        }
    }
}

#[derive(Debug, Default)]
struct Shard {
    licenses: HashMap<Uuid, Counters>,
    entries: usize,
}

impl Shard {
    /// Drops the licenses seen longest ago until the shard is at three quarters of `cap`.
    fn make_room(&mut self, cap: usize) {
        let mut by_age: Vec<(OffsetDateTime, Uuid, usize)> = self
            .licenses
            .iter()
            .map(|(id, c)| (c.last, *id, c.entries()))
            .collect();
        by_age.sort_unstable();
        for (_, id, n) in by_age {
            if self.entries * 4 <= cap * 3 {
                break;
            }
            self.licenses.remove(&id);
            self.entries = self.entries.saturating_sub(n);
        }
    }
}

/// The counters.
#[derive(Debug)]
pub struct AbuseDetector {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    per_shard: usize,
}

impl Default for AbuseDetector {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }
}

fn lock(m: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    // A panic elsewhere while holding a lock must not switch detection off.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A rule's threshold and window in range, whatever was stored before ranges were checked.
fn threshold(v: u32) -> usize {
    v.clamp(1, MAX_ABUSE_THRESHOLD) as usize
}

fn window(minutes: Option<u32>) -> (u32, Duration) {
    let m = minutes
        .unwrap_or(DEFAULT_WINDOW_MINUTES)
        .clamp(1, MAX_ABUSE_WINDOW_MINUTES);
    (m, Duration::minutes(i64::from(m)))
}

impl AbuseDetector {
    /// A detector remembering at most `capacity` entries.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            hasher: RandomState::new(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
        }
    }

    /// Runs `f` on `license`'s counters under its shard's lock, keeping the entry count.
    fn with<R>(&self, license: Uuid, now: OffsetDateTime, f: impl FnOnce(&mut Counters) -> R) -> R {
        let i = usize::try_from(self.hasher.hash_one(license) % SHARDS as u64).unwrap_or(0);
        let mut shard = lock(&self.shards[i]);
        let shard = &mut *shard;
        let counters = shard
            .licenses
            .entry(license)
            .or_insert_with(|| Counters::new(now));
        let before = counters.entries();
        let r = f(counters);
        counters.last = now;
        let after = counters.entries();
        shard.entries = shard.entries.saturating_sub(before) + after;
        if after == 0 {
            shard.licenses.remove(&license);
        }
        if shard.entries > self.per_shard {
            shard.make_room(self.per_shard);
        }
        r
    }

    /// A fingerprint was refused with `LIMIT_EXCEEDED`. Returns the rule crossed, if any.
    pub fn refused(
        &self,
        rules: &AbuseRules,
        license: Uuid,
        fingerprint: &str,
        now: OffsetDateTime,
    ) -> Option<String> {
        let max = threshold(rules.max_refused_fingerprints?);
        let (minutes, win) = window(rules.refused_window_minutes);
        let fp = self.hasher.hash_one(fingerprint);
        let n = self.with(license, now, |c| {
            c.refused.insert(fp, now);
            if c.refused.len() > max {
                // Only past the threshold does age matter: forget what left the window.
                c.refused.retain(|_, t| now - *t < win);
            }
            let n = c.refused.len();
            if n > max {
                c.refused.clear();
            }
            n
        });
        (n > max).then(|| {
            format!("abuse rule: more than {max} distinct fingerprints refused for LIMIT_EXCEEDED within {minutes} minutes ({n})")
        })
    }

    /// A validation of `license` came from `ip` (counted per [`bucket`]: an IPv6 client by its
    /// /64). Returns the rule crossed, if any.
    pub fn validated(
        &self,
        rules: &AbuseRules,
        license: Uuid,
        ip: IpAddr,
        now: OffsetDateTime,
    ) -> Option<String> {
        let max = threshold(rules.max_ips_per_hour?);
        let client = bucket(ip);
        let n = self.with(license, now, |c| {
            c.ips.insert(client, now);
            if c.ips.len() > max {
                c.ips.retain(|_, t| now - *t < Duration::hours(1));
            }
            let n = c.ips.len();
            if n > max {
                c.ips.clear();
            }
            n
        });
        (n > max).then(|| {
            format!("abuse rule: more than {max} distinct client IPs validated this license within an hour ({n})")
        })
    }

    /// An instance of `license` was activated or deactivated through the validation API.
    /// Returns the rule crossed, if any.
    pub fn churned(
        &self,
        rules: &AbuseRules,
        license: Uuid,
        now: OffsetDateTime,
    ) -> Option<String> {
        let max = threshold(rules.max_churn?);
        let (minutes, win) = window(rules.churn_window_minutes);
        let n = self.with(license, now, |c| {
            while c.churn.front().is_some_and(|t| now - *t >= win) {
                c.churn.pop_front();
            }
            c.churn.push_back(now);
            let n = c.churn.len();
            if n > max {
                c.churn.clear();
            }
            n
        });
        (n > max).then(|| {
            format!("abuse rule: more than {max} activations and deactivations within {minutes} minutes ({n})")
        })
    }

    /// Drops what every window has passed (called periodically; the bound holds without it).
    pub fn prune(&self, now: OffsetDateTime) {
        for s in &self.shards {
            let mut shard = lock(s);
            let shard = &mut *shard;
            shard.licenses.retain(|_, c| {
                c.forget_before(now);
                c.entries() > 0
            });
            shard.entries = shard.licenses.values().map(Counters::entries).sum();
            shard.licenses.shrink_to_fit();
        }
    }

    /// How many entries are remembered, and for how many licenses.
    pub fn tracked(&self) -> (usize, usize) {
        self.shards.iter().fold((0, 0), |(e, l), s| {
            let s = lock(s);
            (e + s.entries, l + s.licenses.len())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + Duration::days(20_000)
    }

    #[test]
    fn rules_fire_past_their_threshold_within_the_window() {
        let d = AbuseDetector::default();
        let rules = AbuseRules {
            max_refused_fingerprints: Some(2),
            refused_window_minutes: Some(10),
            max_ips_per_hour: Some(3),
            ..AbuseRules::default()
        };
        let (lic, t) = (Uuid::nil(), t0());
        assert!(d.refused(&rules, lic, "a", t).is_none());
        assert!(
            d.refused(&rules, lic, "a", t).is_none(),
            "the same fingerprint counts once"
        );
        assert!(d.refused(&rules, lic, "b", t).is_none());
        assert!(
            d.refused(&rules, lic, "c", t + Duration::minutes(11))
                .is_none(),
            "a and b fell out of the window"
        );
        assert!(
            d.refused(&rules, lic, "d", t + Duration::minutes(12))
                .is_none()
        );
        assert!(
            d.refused(&rules, lic, "e", t + Duration::minutes(13))
                .unwrap()
                .contains("more than 2")
        );
        for i in 1..=3u8 {
            assert!(
                d.validated(&rules, lic, IpAddr::from([10, 0, 0, i]), t)
                    .is_none()
            );
        }
        assert!(
            d.validated(&rules, lic, IpAddr::from([10, 0, 0, 9]), t)
                .is_some()
        );
        let off = AbuseRules::default();
        assert!(
            d.refused(&off, lic, "z", t).is_none(),
            "rules are off by default"
        );
    }

    #[test]
    fn churn_counts_activations_and_deactivations_within_the_window() {
        let d = AbuseDetector::default();
        let rules = AbuseRules {
            max_churn: Some(4),
            churn_window_minutes: Some(5),
            ..AbuseRules::default()
        };
        let lic = Uuid::from_u128(7);
        for i in 0..4 {
            assert!(
                d.churned(&rules, lic, t0() + Duration::minutes(i))
                    .is_none()
            );
        }
        assert!(
            d.churned(&rules, lic, t0() + Duration::minutes(6))
                .is_none(),
            "the first two fell out of the window"
        );
        assert!(
            d.churned(&rules, lic, t0() + Duration::minutes(6))
                .is_none()
        );
        let rule = d.churned(&rules, lic, t0() + Duration::minutes(6)).unwrap();
        assert!(rule.contains("more than 4 activations and deactivations within 5 minutes"));
    }

    #[test]
    fn ipv6_validations_count_per_64() {
        let d = AbuseDetector::default();
        let rules = AbuseRules {
            max_ips_per_hour: Some(2),
            ..AbuseRules::default()
        };
        let lic = Uuid::from_u128(8);
        for i in 0..100u16 {
            let ip: IpAddr = format!("2001:db8:7:7::{i:x}").parse().unwrap();
            assert!(
                d.validated(&rules, lic, ip, t0()).is_none(),
                "one /64 is one client"
            );
        }
    }

    #[test]
    fn a_million_licenses_and_clients_stay_within_the_cap() {
        let d = AbuseDetector::default();
        let rules = AbuseRules {
            max_ips_per_hour: Some(MAX_ABUSE_THRESHOLD),
            max_refused_fingerprints: Some(MAX_ABUSE_THRESHOLD),
            max_churn: Some(MAX_ABUSE_THRESHOLD),
            ..AbuseRules::default()
        };
        let hot = Uuid::from_u128(u128::MAX);
        for i in 0..1_000_000u32 {
            let now = t0() + Duration::milliseconds(i64::from(i));
            let lic = Uuid::from_u128(u128::from(i / 4));
            let ip = IpAddr::from(i.to_be_bytes());
            d.validated(&rules, lic, ip, now);
            d.validated(&rules, hot, ip, now);
            if i % 3 == 0 {
                d.refused(&rules, lic, &format!("fp-{i}"), now);
                d.churned(&rules, lic, now);
            }
            if i % 100_000 == 0 {
                assert!(d.tracked().0 <= DEFAULT_CAPACITY);
            }
        }
        let (entries, licenses) = d.tracked();
        println!(
            "after 1,000,000 validations of 250,000 licenses: {entries} entries for {licenses} licenses"
        );
        assert!(entries <= DEFAULT_CAPACITY && licenses <= DEFAULT_CAPACITY);
        assert!(licenses > 0);
        d.prune(t0() + Duration::days(2));
        assert_eq!(d.tracked(), (0, 0), "everything ages out");
    }
}
