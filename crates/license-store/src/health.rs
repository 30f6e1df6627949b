//! Whether an environment's PostgreSQL database answers, known without asking it on every
//! request (SPEC §10: while it is away, requests that need it answer 503 within 1 second, and
//! service resumes by itself within 1 second of its return).
//!
//! A serving process starts one probe thread per PostgreSQL store ([`Store::watch`]): every
//! [`PROBE_EVERY`] it runs `SELECT 1` on a connection of its own. While the last probe failed,
//! or no probe has succeeded for [`STALE_AFTER`] (a probe stuck on a network that drops
//! packets), [`Store::conn`] fails at once with [`StoreError::Unavailable`] instead of waiting
//! for the pool, so no request holds a thread for a database known to be away. When a probe
//! succeeds again, the pool's idle connections (opened before the outage, now dead) are tried
//! and the broken ones dropped before requests are let through again. A store nobody watches
//! (the CLI, tests, SQLite) is always taken to be up.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;

use crate::Store;
use crate::db::{self, DbConn};
use crate::error::{StoreError, StoreResult};

/// How often the probe asks the database.
pub const PROBE_EVERY: Duration = Duration::from_millis(200);

/// How long `Store::conn` waits for a pooled connection before it looks at the probe again.
pub const CHECKOUT_SLICE: Duration = Duration::from_millis(100);

/// A probe older than this counts as a failed one.
pub const STALE_AFTER: Duration = Duration::from_millis(800);

/// What the probe last found, read by every request (two relaxed atomic loads).
#[derive(Debug)]
pub(crate) struct Health {
    origin: Instant,
    watched: AtomicBool,
    down: AtomicBool,
    /// Milliseconds from `origin` to the last successful probe.
    last_ok: AtomicU64,
}

impl Health {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            origin: Instant::now(),
            watched: AtomicBool::new(false),
            down: AtomicBool::new(false),
            last_ok: AtomicU64::new(0),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn mark_ok(&self) {
        self.last_ok.store(self.now_ms(), Ordering::Relaxed);
        self.down.store(false, Ordering::Relaxed);
    }

    /// Whether a probe watches this store.
    pub(crate) fn is_watched(&self) -> bool {
        self.watched.load(Ordering::Relaxed)
    }

    /// `Ok` unless a watched database is known to be away.
    pub(crate) fn check(&self) -> StoreResult<()> {
        if !self.is_watched() {
            return Ok(());
        }
        if self.down.load(Ordering::Relaxed) {
            return Err(StoreError::Unavailable(
                "the database does not answer".into(),
            ));
        }
        let age = self
            .now_ms()
            .saturating_sub(self.last_ok.load(Ordering::Relaxed));
        if u128::from(age) > STALE_AFTER.as_millis() {
            return Err(StoreError::Unavailable(format!(
                "the database has not answered for {age} ms"
            )));
        }
        Ok(())
    }
}

impl Store {
    /// Starts the probe thread of a PostgreSQL store (nothing for SQLite, whose file cannot go
    /// away). From then on, requests fail fast while the database is away; `on_change` hears
    /// `false` when the database stops answering and `true` when it answers again (for the
    /// log). For a serving process: the thread runs as long as the process.
    pub fn watch(&self, on_change: impl Fn(bool) + Send + 'static) -> std::io::Result<()> {
        if !self.is_postgres() {
            return Ok(());
        }
        self.health.mark_ok();
        self.health.watched.store(true, Ordering::Relaxed);
        let store = self.clone();
        std::thread::Builder::new()
            .name(format!("db-probe-{}", self.env()))
            .spawn(move || {
                let mut conn = None;
                loop {
                    if let Some(up) = store.probe(&mut conn) {
                        on_change(up);
                    }
                    std::thread::sleep(PROBE_EVERY);
                }
            })
            .map(drop)
    }

    /// One probe: (re)connects if needed, runs `SELECT 1`, records the result; `Some(up)` when
    /// that changed. On the way back up, the pool's idle connections are checked first.
    fn probe(&self, conn: &mut Option<DbConn>) -> Option<bool> {
        if conn.is_none() {
            *conn = db::open_one(&self.target).ok();
        }
        let ok = conn
            .as_mut()
            .is_some_and(|c| c.batch_execute("SELECT 1").is_ok());
        if !ok {
            *conn = None;
            let was_down = self.health.down.swap(true, Ordering::Relaxed);
            return (!was_down).then_some(false);
        }
        let was_down = self.health.down.load(Ordering::Relaxed);
        if was_down {
            self.drop_dead_idle_connections();
        }
        self.health.mark_ok();
        was_down.then_some(true)
    }

    /// Takes every idle pooled connection, runs `SELECT 1` on it and gives it back: one that
    /// fails is marked broken by Diesel and the pool drops it instead of handing it to a request.
    fn drop_dead_idle_connections(&self) {
        let idle = self.pool.state().idle_connections;
        let mut taken = Vec::new();
        for _ in 0..idle {
            let Some(mut c) = self.pool.try_get() else {
                break;
            };
            let _ = c.batch_execute("SELECT 1");
            taken.push(c);
        }
    }
}
