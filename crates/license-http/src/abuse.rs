//! Abuse detection (SPEC §9): in-memory counters per license, fed by the validation API, so a
//! request adds no database write. Crossing a rule of the environment's settings suspends the
//! license (actor `abuse-detector`, the rule as `suspended_reason`, with its audit entry and
//! `license.suspended` event). Counters are per process: with several validation instances each
//! applies the rule to the traffic it sees.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Mutex;

use license_store::settings::AbuseRules;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

type Seen<T> = Mutex<HashMap<Uuid, Vec<(OffsetDateTime, T)>>>;

/// The counters.
#[derive(Debug, Default)]
pub struct AbuseDetector {
    refused: Seen<String>,
    ips: Seen<IpAddr>,
}

/// Records `item` for `license` at `now`, forgets entries older than `window`, and returns how
/// many distinct items remain.
fn count<T: Clone + Eq + std::hash::Hash>(
    seen: &Seen<T>,
    license: Uuid,
    item: T,
    now: OffsetDateTime,
    window: Duration,
) -> usize {
    let Ok(mut map) = seen.lock() else { return 0 };
    let list = map.entry(license).or_default();
    list.retain(|(t, _)| now - *t < window);
    list.push((now, item));
    list.iter()
        .map(|(_, i)| i.clone())
        .collect::<HashSet<_>>()
        .len()
}

fn forget<T>(seen: &Seen<T>, license: Uuid) {
    if let Ok(mut map) = seen.lock() {
        map.remove(&license);
    }
}

impl AbuseDetector {
    /// A fingerprint was refused with `LIMIT_EXCEEDED`. Returns the rule crossed, if any.
    pub fn refused(
        &self,
        rules: &AbuseRules,
        license: Uuid,
        fingerprint: &str,
        now: OffsetDateTime,
    ) -> Option<String> {
        let max = rules.max_refused_fingerprints?;
        let minutes = rules.refused_window_minutes.unwrap_or(60).max(1);
        let n = count(
            &self.refused,
            license,
            fingerprint.to_owned(),
            now,
            Duration::minutes(i64::from(minutes)),
        );
        (n > max as usize).then(|| {
            forget(&self.refused, license);
            format!("abuse rule: more than {max} distinct fingerprints refused for LIMIT_EXCEEDED within {minutes} minutes ({n})")
        })
    }

    /// A validation of `license` came from `ip`. Returns the rule crossed, if any.
    pub fn validated(
        &self,
        rules: &AbuseRules,
        license: Uuid,
        ip: IpAddr,
        now: OffsetDateTime,
    ) -> Option<String> {
        let max = rules.max_ips_per_hour?;
        let n = count(&self.ips, license, ip, now, Duration::hours(1));
        (n > max as usize).then(|| {
            forget(&self.ips, license);
            format!("abuse rule: more than {max} distinct client IPs validated this license within an hour ({n})")
        })
    }

    /// Drops counters of licenses not seen for an hour (called periodically).
    pub fn prune(&self, now: OffsetDateTime) {
        for map in [&self.refused] {
            if let Ok(mut m) = map.lock() {
                m.retain(|_, l| l.iter().any(|(t, _)| now - *t < Duration::hours(24)));
            }
        }
        if let Ok(mut m) = self.ips.lock() {
            m.retain(|_, l| l.iter().any(|(t, _)| now - *t < Duration::hours(1)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_fire_past_their_threshold_within_the_window() {
        let d = AbuseDetector::default();
        let rules = AbuseRules {
            max_refused_fingerprints: Some(2),
            refused_window_minutes: Some(10),
            max_ips_per_hour: Some(3),
        };
        let (lic, t) = (Uuid::nil(), OffsetDateTime::UNIX_EPOCH);
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
}
