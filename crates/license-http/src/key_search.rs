//! Exact-key searches (SPEC §5). A search whose text could be a full key is a digest lookup —
//! an oracle for someone guessing keys with a stolen viewer token — so each is audited (without
//! the key) and each operator or token may make [`PER_MINUTE`] of them a minute, then waits
//! (429 with `Retry-After`). The map is bounded: callers are authenticated, so its keys are the
//! environment's tokens and operators, never attacker-chosen.

use std::collections::HashMap;
use std::sync::Mutex;

use time::{Duration, OffsetDateTime};

/// Exact-key searches one operator or token may make per minute.
pub const PER_MINUTE: u32 = 30;
/// Most callers tracked at once (windows that ended are dropped first).
pub const CAPACITY: usize = 10_000;
const WINDOW: Duration = Duration::minutes(1);

/// Per-caller windows: (start, searches in it).
#[derive(Debug, Default)]
pub struct KeySearchThrottle(Mutex<HashMap<String, (OffsetDateTime, u32)>>);

impl KeySearchThrottle {
    /// Counts one exact-key search by `who`; `Err(seconds)` to wait when over the limit.
    pub fn admit(&self, who: &str, now: OffsetDateTime) -> Result<(), u64> {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= CAPACITY && !map.contains_key(who) {
            map.retain(|_, (start, _)| now - *start < WINDOW);
            if map.len() >= CAPACITY {
                return Err(WINDOW.whole_seconds().unsigned_abs());
            }
        }
        let entry = map.entry(who.to_owned()).or_insert((now, 0));
        if now - entry.0 >= WINDOW {
            *entry = (now, 0);
        }
        if entry.1 >= PER_MINUTE {
            let wait = (entry.0 + WINDOW - now).whole_seconds().max(1);
            return Err(wait.unsigned_abs());
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirty_a_minute_per_caller_then_wait_for_the_window() {
        let t = KeySearchThrottle::default();
        let t0 = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
        for _ in 0..PER_MINUTE {
            assert_eq!(t.admit("production/token:ci", t0), Ok(()));
        }
        assert_eq!(
            t.admit("production/token:ci", t0 + Duration::seconds(20)),
            Err(40)
        );
        assert_eq!(t.admit("production/token:other", t0), Ok(()), "per caller");
        assert_eq!(
            t.admit("production/token:ci", t0 + Duration::seconds(60)),
            Ok(()),
            "a new window"
        );
    }

    #[test]
    fn the_map_stays_bounded() {
        let t = KeySearchThrottle::default();
        let t0 = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
        for i in 0..CAPACITY {
            assert!(t.admit(&format!("c{i}"), t0).is_ok());
        }
        assert!(t.admit("one more", t0).is_err(), "full within the window");
        assert!(
            t.admit("one more", t0 + Duration::minutes(2)).is_ok(),
            "old windows make room"
        );
        assert!(t.0.lock().unwrap().len() <= CAPACITY);
    }
}
