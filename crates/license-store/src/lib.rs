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
pub mod search;
pub mod stats;
pub mod sweep;

pub mod audit;
pub mod control;
pub mod delivery;
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
        let store = Self {
            env: env.into(),
            pool,
            sealer: Arc::new(Sealer::new(master)),
            digests: Arc::new(DigestKey::derive(master, env)),
            target: Arc::new(target),
            health: health::Health::new(),
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
        self.health.check()?;
        Ok(self.pool.get()?)
    }

    /// Whether the database answers (`/readyz`).
    pub fn ping(&self) -> StoreResult<()> {
        use diesel::connection::SimpleConnection;
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
