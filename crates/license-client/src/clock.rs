//! Where the client gets the time and how it waits: every clock reading and every pause between
//! retries goes through [`Clock`], so tests move time by hand and never sleep.

use std::sync::Mutex;
use std::time::Duration;

use time::OffsetDateTime;

/// The time source of a [`Client`](crate::Client), and its way of waiting between retries.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time, UTC.
    fn now(&self) -> OffsetDateTime;

    /// Blocks the calling thread for `duration` (a backoff or a server's `Retry-After`).
    fn sleep(&self, duration: Duration);
}

/// The operating system's clock; the default.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// A clock that moves only when told: [`set`](Self::set) and [`advance`](Self::advance) move it,
/// and [`sleep`](Clock::sleep) advances it instead of blocking (and counts the time slept). For
/// tests of software that links this crate.
#[derive(Debug)]
pub struct ManualClock {
    inner: Mutex<Manual>,
}

#[derive(Debug, Clone, Copy)]
struct Manual {
    now: OffsetDateTime,
    slept: Duration,
    sleeps: u32,
}

impl ManualClock {
    /// A clock standing at `now`.
    pub fn new(now: OffsetDateTime) -> Self {
        Self {
            inner: Mutex::new(Manual {
                now,
                slept: Duration::ZERO,
                sleeps: 0,
            }),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Manual) -> T) -> T {
        let mut guard = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }

    /// Moves the clock to `now` (forward or back).
    pub fn set(&self, now: OffsetDateTime) {
        self.with(|m| m.now = now);
    }

    /// Moves the clock by `by` (negative moves it back).
    pub fn advance(&self, by: time::Duration) {
        self.with(|m| m.now = m.now.saturating_add(by));
    }

    /// The total time [`sleep`](Clock::sleep) was asked for so far.
    pub fn slept(&self) -> Duration {
        self.with(|m| m.slept)
    }

    /// How many times [`sleep`](Clock::sleep) was called so far.
    pub fn sleeps(&self) -> u32 {
        self.with(|m| m.sleeps)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        self.with(|m| m.now)
    }

    fn sleep(&self, duration: Duration) {
        self.with(|m| {
            m.now = m.now.saturating_add(time::Duration::saturating_seconds_f64(
                duration.as_secs_f64(),
            ));
            m.slept = m.slept.saturating_add(duration);
            m.sleeps = m.sleeps.saturating_add(1);
        });
    }
}
