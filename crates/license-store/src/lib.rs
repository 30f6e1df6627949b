//! Keysmith's persistence: every SQL statement and every transaction, for SQLite (the embedded
//! default) and PostgreSQL from one code path (Diesel `MultiConnection`).
//!
//! Shape of a use case: a `Store` method takes a connection from the pool, opens exactly one
//! transaction, loads what it needs, asks `license-core` to decide, writes the row, its audit
//! entry and its outbox event, and commits. Repository helpers take `&mut DbConn` and never open
//! transactions. This crate never formats HTTP responses and never reads configuration.
//!
//! Modules, one per resource, each with its request types and its `Store` methods:
//! - plumbing: [`db`] (backends, pool, migrations), [`health`] (the database probe that makes
//!   requests fail fast while PostgreSQL is away), [`schema`], `rows`, [`model`] (typed
//!   records), [`error`], [`limits`] (every size and range limit), [`validate`] (input checks);
//! - catalog: [`products`], [`generators`], [`customers`];
//! - licenses: [`licenses`] (the use cases), `license_rows` (their row-level helpers),
//!   [`search`] (list, filter, sort), [`stats`], [`activation`] (validate, activate,
//!   deactivate), [`mint`] (batches and jobs), [`import`] (CSV assignment), [`sweep`] (expiry,
//!   reminders, retention), [`demo`] (seeding a demo);
//! - operations: [`audit`] (audit log and outbox), [`settings`], [`tokens`], [`signing_keys`],
//!   [`webhooks`] (endpoints and deliveries as an operator sees them), [`delivery`] (the
//!   worker's fan-out, claims and attempts).

use std::sync::Arc;

use license_core::{DigestKey, KeyVault, MasterKey, Sealer};

pub mod db;
pub mod error;
pub mod health;
pub mod limits;
pub mod model;
mod rows;
pub mod schema;
pub mod validate;

pub mod customers;
pub mod generators;
pub mod products;

pub mod activation;
pub mod activations;
pub mod demo;
pub mod digest_upgrade;
pub mod import;
mod license_rows;
pub mod licenses;
pub mod mint;
pub mod portal;
pub mod search;
pub mod stats;
pub mod sweep;

pub mod audit;
pub mod control;
pub mod delivery;
pub mod mail;
pub mod mail_templates;
pub mod settings;
pub mod signing_keys;
pub mod tokens;
pub mod webhooks;

#[cfg(feature = "testkit")]
pub mod testkit;

pub use audit::Actor;
pub use db::{DbConn, Pool, PoolOptions, Target};
pub use error::{StoreError, StoreResult};

/// A page of a list: at most `limit` rows after skipping `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Rows to return (1..=500).
    pub limit: i64,
    /// Rows to skip.
    pub offset: i64,
}

impl Default for Page {
    fn default() -> Self {
        Self {
            limit: 50,
            offset: 0,
        }
    }
}

impl Page {
    /// The largest page.
    pub const MAX_LIMIT: i64 = limits::MAX_PAGE;

    /// Checks `limit` (1..=500) and `offset` (≥ 0).
    pub fn new(limit: i64, offset: i64) -> StoreResult<Self> {
        if !(1..=Self::MAX_LIMIT).contains(&limit) {
            return Err(StoreError::invalid(
                "limit",
                format!("must be 1..=500, got {limit}"),
            ));
        }
        if offset < 0 {
            return Err(StoreError::invalid(
                "offset",
                format!("must be 0 or more, got {offset}"),
            ));
        }
        Ok(Self { limit, offset })
    }
}

/// One environment's database: a pool plus the master-key sealer for key ciphertexts.
#[derive(Clone)]
pub struct Store {
    env: Arc<str>,
    pool: Pool,
    sealer: Arc<Sealer>,
    digests: Arc<DigestKey>,
    target: Arc<Target>,
    health: Arc<health::Health>,
    /// How long `conn` queues for a connection while the database answers.
    wait: std::time::Duration,
    /// SQLite: this process's writers take turns here (see [`Store::write_on`]).
    writer: Option<Arc<std::sync::Mutex<()>>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("env", &self.env)
            .field(
                "backend",
                &if self.target.is_postgres() {
                    "postgres"
                } else {
                    "sqlite"
                },
            )
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens environment `env` at `url` (`sqlite://path` or `postgres://...`): migrates, then
    /// pools.
    pub fn open(env: &str, url: &str, master: &MasterKey) -> StoreResult<Self> {
        let target = Target::parse(url)?;
        // No round trip per checkout on the validation hot path: serving processes watch their
        // stores (`Store::watch`), and the probe drops connections a restart left dead. (The CLI
        // and tests do not outlive a database restart.)
        let options = PoolOptions {
            check_on_checkout: false,
            ..PoolOptions::for_target(&target)
        };
        Self::open_with(env, target, options, master)
    }

    /// Opens with explicit pool options.
    pub fn open_with(
        env: &str,
        target: Target,
        options: PoolOptions,
        master: &MasterKey,
    ) -> StoreResult<Self> {
        let pool = db::connect(&target, options)?;
        let wait = options.connection_timeout;
        let store = Self {
            env: env.into(),
            pool,
            sealer: Arc::new(Sealer::new(master)),
            digests: Arc::new(DigestKey::derive(master, env)),
            health: health::Health::new(),
            wait,
            writer: (!target.is_postgres()).then(Default::default),
            target: Arc::new(target),
        };
        store.upgrade_key_digests(digest_upgrade::BATCH, None)?;
        Ok(store)
    }

    /// The environment's name.
    pub fn env(&self) -> &str {
        &self.env
    }

    /// Whether this environment lives on PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.target.is_postgres()
    }

    /// A pooled connection; `Unavailable` at once while the database is known to be away
    /// (see [`health`]).
    pub fn conn(&self) -> StoreResult<db::PooledConn> {
        let deadline = std::time::Instant::now() + self.wait;
        loop {
            self.health.check()?;
            // In slices, so a caller queued for a connection when the database goes away hears
            // of it from the probe instead of waiting out the whole `wait`.
            match self.pool.get_timeout(health::CHECKOUT_SLICE) {
                Ok(c) => return Ok(c),
                Err(e) if std::time::Instant::now() >= deadline => return Err(e.into()),
                Err(_) => {}
            }
        }
    }

    /// Runs `f` in a write transaction on a pooled connection (see [`Store::write_on`]).
    pub(crate) fn write<T>(&self, f: impl FnOnce(&mut DbConn) -> StoreResult<T>) -> StoreResult<T> {
        let mut conn = self.conn()?;
        self.write_on(&mut conn, f)
    }

    /// Runs `f` in a write transaction on `conn` ([`DbConn::write`]). On SQLite, this process's
    /// writers first queue on one mutex, so the database's write lock passes straight from one
    /// to the next: left to SQLite's busy handler, waiting writers poll with sleeps of up to
    /// 100 ms, and under an activation storm some waited most of a second. (The connection is
    /// taken before the mutex, so the writer holding it never waits for the pool.) Other
    /// processes (the CLI) still meet `busy_timeout`.
    pub(crate) fn write_on<T>(
        &self,
        conn: &mut DbConn,
        f: impl FnOnce(&mut DbConn) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let _turn = self
            .writer
            .as_ref()
            .map(|m| m.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        conn.write(f)
    }

    /// A pooled connection if one is idle right now, without waiting (nor checking the probe:
    /// only SQLite uses it).
    pub(crate) fn idle_conn(&self) -> Option<db::PooledConn> {
        self.pool.try_get()
    }

    /// Whether the database answers (`/readyz`). A watched store answers from its probe, which
    /// asked a moment ago on a connection of its own, so a busy pool cannot delay the answer.
    pub fn ping(&self) -> StoreResult<()> {
        use diesel::connection::SimpleConnection;
        if self.health.is_watched() {
            return self.health.check();
        }
        self.conn()?.batch_execute("SELECT 1")?;
        Ok(())
    }

    /// The environment's key digester (lookups by key).
    pub(crate) fn digests(&self) -> &DigestKey {
        &self.digests
    }

    /// What mints a key: the sealer and the digester.
    pub(crate) fn vault(&self) -> KeyVault<'_> {
        KeyVault {
            sealer: &self.sealer,
            digests: &self.digests,
        }
    }

    pub(crate) fn sealer(&self) -> &Sealer {
        &self.sealer
    }
}
