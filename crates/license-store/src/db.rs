//! Connections, pools, migrations and transactions for both backends.
//!
//! `DbConn` is a Diesel `MultiConnection` over SQLite and PostgreSQL, so repositories are written
//! once. The few places where the backends must differ (opening a write transaction, locking a
//! row, serialising migrations) are in this file and say why.

use std::path::PathBuf;
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::error::{StoreError, StoreResult};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
const CONTROL_SQLITE_MIGRATIONS: EmbeddedMigrations =
    embed_migrations!("../../migrations/control/sqlite");
const CONTROL_PG_MIGRATIONS: EmbeddedMigrations =
    embed_migrations!("../../migrations/control/postgres");

/// Which kind of database a connection serves, and so which migrations it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// An environment's database (`migrations/{sqlite,postgres}`).
    Environment,
    /// The control database of operators and sessions (`migrations/control/{sqlite,postgres}`).
    Control,
}

impl Schema {
    fn migrations(self, postgres: bool) -> EmbeddedMigrations {
        match (self, postgres) {
            (Self::Environment, false) => SQLITE_MIGRATIONS,
            (Self::Environment, true) => PG_MIGRATIONS,
            (Self::Control, false) => CONTROL_SQLITE_MIGRATIONS,
            (Self::Control, true) => CONTROL_PG_MIGRATIONS,
        }
    }
}

/// One database connection, SQLite or PostgreSQL.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    /// PostgreSQL, the scale-out backend.
    Pg(PgConnection),
    /// SQLite, the embedded default.
    Sqlite(SqliteConnection),
}

impl std::fmt::Debug for DbConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Pg(_) => "DbConn::Pg",
            Self::Sqlite(_) => "DbConn::Sqlite",
        })
    }
}

/// Which database a URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `sqlite://{path}`: a file, created with its folder if missing.
    Sqlite(PathBuf),
    /// `postgres://...` or `postgresql://...`, passed to libpq as is.
    Postgres(String),
}

impl Target {
    /// Reads a database URL. The scheme picks the backend: Diesel's own `establish` would take
    /// any string as an SQLite path.
    pub fn parse(url: &str) -> StoreResult<Self> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(StoreError::Config(
                    "database URL sqlite:// needs a file path, e.g. sqlite://./data/production.db"
                        .into(),
                ));
            }
            Ok(Self::Sqlite(PathBuf::from(path)))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres(url.to_owned()))
        } else {
            Err(StoreError::Config(format!(
                "database URL must start with sqlite:// or postgres://, got {:?}",
                redact_url(url)
            )))
        }
    }

    /// Whether this is PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }
}

/// A URL with any password replaced, for error messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Opens connections for the pool and sets every SQLite connection up the same way.
#[derive(Debug)]
pub struct Manager {
    target: Target,
}

/// Per-connection SQLite settings: Diesel leaves foreign keys off; WAL lets readers run beside
/// the one writer; `busy_timeout` makes writers queue instead of failing with "database is
/// locked"; `synchronous = NORMAL` is durable across application crashes in WAL mode. Each
/// connection keeps a 2 MiB page cache (the OS page cache holds the rest; no memory map, so the
/// process's resident memory stays small whatever the database size), and the WAL is
/// checkpointed every 8,192 pages rather than 1,000, which bulk minting needs.
const SQLITE_PRAGMAS: &str = "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 15000; \
     PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -2048; \
     PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 8192;";

impl Manager {
    fn establish(&self) -> Result<DbConn, diesel::ConnectionError> {
        match &self.target {
            Target::Sqlite(path) => {
                let mut c = SqliteConnection::establish(&path.to_string_lossy())?;
                c.batch_execute(SQLITE_PRAGMAS)
                    .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                Ok(DbConn::Sqlite(c))
            }
            Target::Postgres(url) => {
                let mut c = PgConnection::establish(&with_pg_timeouts(url))?;
                c.batch_execute("SET TIME ZONE 'UTC'")
                    .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                Ok(DbConn::Pg(c))
            }
        }
    }
}

/// libpq settings every PostgreSQL connection gets unless its URL sets them, so that a database
/// that vanishes from the network (no reset, no answer) costs seconds, not the kernel's
/// minutes: connecting gives up after 2 s (libpq's smallest), data unacknowledged for 2 s breaks
/// the connection (`tcp_user_timeout`), and an idle connection is probed after 5 s of silence.
/// A server that stops or crashes resets its connections at once; these bound the other case.
const PG_URL_DEFAULTS: [(&str, &str); 6] = [
    ("connect_timeout", "2"),
    ("keepalives", "1"),
    ("keepalives_idle", "5"),
    ("keepalives_interval", "1"),
    ("keepalives_count", "3"),
    ("tcp_user_timeout", "2000"),
];

/// `url` with [`PG_URL_DEFAULTS`] added for every parameter it does not set itself.
pub fn with_pg_timeouts(url: &str) -> String {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let given: Vec<&str> = query
        .split('&')
        .filter_map(|kv| kv.split('=').next())
        .collect();
    let mut out = url.to_owned();
    for (k, v) in PG_URL_DEFAULTS {
        if !given.contains(&k) {
            out.push(if out.contains('?') { '&' } else { '?' });
            out.push_str(k);
            out.push('=');
            out.push_str(v);
        }
    }
    out
}

/// Set on every pooled PostgreSQL connection (not on the one that migrates): no statement of a
/// request runs, or waits for a lock, longer than this.
const PG_STATEMENT_TIMEOUT: &str = "SET statement_timeout = '30s'";

/// One connection to `target` outside any pool, set up as pooled ones are (the database probe
/// uses it, so that it can tell an exhausted pool from an absent database).
pub(crate) fn open_one(target: &Target) -> Result<DbConn, r2d2::Error> {
    Manager {
        target: target.clone(),
    }
    .connect()
}

impl ManageConnection for Manager {
    type Connection = DbConn;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConn, r2d2::Error> {
        let mut conn = self.establish().map_err(r2d2::Error::ConnectionError)?;
        if conn.is_postgres() {
            conn.batch_execute(PG_STATEMENT_TIMEOUT)
                .map_err(r2d2::Error::QueryError)?;
        }
        Ok(conn)
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), r2d2::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        use diesel::r2d2::R2D2Connection;
        conn.is_broken()
    }
}

/// A pool of connections to one environment's database.
pub type Pool = r2d2::Pool<Manager>;

/// A pooled connection.
pub type PooledConn = r2d2::PooledConnection<Manager>;

/// Pool sizing.
#[derive(Debug, Clone, Copy)]
pub struct PoolOptions {
    /// Most connections held open.
    pub max_size: u32,
    /// How long a caller may queue for a free connection while the database answers (a watched
    /// store stops waiting as soon as its probe finds the database away: [`crate::health`]).
    pub connection_timeout: Duration,
    /// Whether a PostgreSQL connection is checked (`SELECT 1`, one round trip) each time it is
    /// handed out, so one left dead by a server restart is never used. A store watched by its
    /// probe ([`crate::health`]) does without: the probe drops dead connections when the server
    /// returns.
    pub check_on_checkout: bool,
}

impl PoolOptions {
    /// Defaults for a target: SQLite has one writer at a time, so a few connections serve
    /// readers; PostgreSQL gets more.
    pub fn for_target(target: &Target) -> Self {
        Self {
            max_size: if target.is_postgres() { 16 } else { 8 },
            connection_timeout: Duration::from_secs(30),
            check_on_checkout: target.is_postgres(),
        }
    }
}

/// On PostgreSQL, what a plain `Pool::get` waits at most (the control store's, which has no
/// probe: a 503 within a second of an outage), and twice the longest pause between the pool's
/// attempts to reconnect (r2d2 backs off up to half of it), so new connections follow the
/// server's return within 250 ms.
pub const PG_POOL_WAIT: Duration = Duration::from_millis(500);

/// Runs pending environment migrations on one connection of `target`, then builds the pool.
pub fn connect(target: &Target, options: PoolOptions) -> StoreResult<Pool> {
    connect_schema(target, options, Schema::Environment)
}

/// Runs pending migrations of `schema` on one connection of `target`, then builds the pool.
pub fn connect_schema(target: &Target, options: PoolOptions, schema: Schema) -> StoreResult<Pool> {
    if let Target::Sqlite(path) = target {
        private_sqlite_file(path)?;
    }
    let manager = Manager {
        target: target.clone(),
    };
    let mut conn = manager
        .establish()
        .map_err(|e| StoreError::Config(format!("cannot connect to {}: {e}", describe(target))))?;
    migrate_schema(&mut conn, schema)?;
    drop(conn);
    Ok(r2d2::Pool::builder()
        .max_size(options.max_size)
        // A SQLite file never goes away under a connection; a PostgreSQL connection may (server
        // restart): see `PoolOptions::check_on_checkout`.
        .test_on_check_out(target.is_postgres() && options.check_on_checkout)
        .connection_timeout(if target.is_postgres() {
            PG_POOL_WAIT
        } else {
            options.connection_timeout
        })
        // r2d2 would log every failed attempt to reconnect (several a second while a server is
        // down); the caller's error and the database probe say it once.
        .error_handler(Box::new(r2d2::NopErrorHandler))
        // The migration connection just proved the database reachable; the pool fills in the
        // background rather than within `PG_POOL_WAIT`.
        .build_unchecked(manager))
}

/// Makes a SQLite database file private before SQLite opens it: its folder is created mode 0700
/// and the file mode 0600 (SQLite gives its `-wal` and `-shm` files the database file's mode);
/// an existing file readable by group or others is narrowed to 0600. Keys and tokens are stored
/// as digests and ciphertexts, but customer data and the audit are not.
fn private_sqlite_file(path: &std::path::Path) -> StoreResult<()> {
    if path.as_os_str() == ":memory:" {
        return Ok(());
    }
    let fail = |what: &str, p: &std::path::Path, e: std::io::Error| {
        StoreError::Config(format!("cannot {what} {}: {e}", p.display()))
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(dir)
            .map_err(|e| fail("create database folder", dir, e))?;
    }
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)
        .map_err(|e| fail("create database file", path, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| fail("read", path, e))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| fail("restrict to mode 0600", path, e))?;
        }
    }
    Ok(())
}

fn describe(target: &Target) -> String {
    match target {
        Target::Sqlite(p) => format!("SQLite database {}", p.display()),
        Target::Postgres(url) => format!("PostgreSQL {}", redact_url(url)),
    }
}

/// Applies every pending environment migration.
pub fn migrate(conn: &mut DbConn) -> StoreResult<()> {
    migrate_schema(conn, Schema::Environment)
}

/// Applies every pending migration of `schema`. On PostgreSQL an advisory lock makes instances
/// starting together take turns (SQLite's own write lock does that there).
pub fn migrate_schema(conn: &mut DbConn, schema: Schema) -> StoreResult<()> {
    const MIGRATION_LOCK: i64 = 0x6b65_7973_6d69_7468; // "keysmith"
    let result = match conn {
        DbConn::Sqlite(c) => c
            .run_pending_migrations(schema.migrations(false))
            .map(|_| ()),
        DbConn::Pg(c) => {
            c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
                .map_err(StoreError::Database)?;
            let r = c
                .run_pending_migrations(schema.migrations(true))
                .map(|_| ());
            c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
                .map_err(StoreError::Database)?;
            r
        }
    };
    result.map_err(|e| StoreError::Migration(e.to_string()))
}

/// Reverts every environment migration (for the migration round-trip test).
pub fn revert_all(conn: &mut DbConn) -> StoreResult<()> {
    revert_all_schema(conn, Schema::Environment)
}

/// Reverts every migration of `schema` (for the migration round-trip test).
pub fn revert_all_schema(conn: &mut DbConn, schema: Schema) -> StoreResult<()> {
    let r = match conn {
        DbConn::Sqlite(c) => c
            .revert_all_migrations(schema.migrations(false))
            .map(|_| ()),
        DbConn::Pg(c) => c.revert_all_migrations(schema.migrations(true)).map(|_| ()),
    };
    r.map_err(|e| StoreError::Migration(e.to_string()))
}

/// Loads the ids a claim query selects, locked for the rest of the transaction: PostgreSQL takes
/// them `FOR UPDATE SKIP LOCKED`, so concurrent workers on several instances claim disjoint
/// rows; SQLite's write lock (held since `BEGIN IMMEDIATE`) already makes one worker at a time.
macro_rules! claim {
    ($conn:expr, $query:expr) => {
        match $conn {
            DbConn::Pg(c) => $query.for_update().skip_locked().load(c)?,
            DbConn::Sqlite(c) => $query.load(c)?,
        }
    };
}

impl DbConn {
    /// Runs `f` in a write transaction: committed if it returns `Ok`, rolled back otherwise.
    ///
    /// SQLite opens it with `BEGIN IMMEDIATE`, taking the write lock up front: a deferred
    /// transaction that reads and then writes fails with `SQLITE_BUSY_SNAPSHOT` when another
    /// writer got in between, which `busy_timeout` cannot fix. PostgreSQL uses READ COMMITTED with
    /// explicit row locks ([`DbConn::lock_license`]) where a limit is checked.
    pub fn write<T>(&mut self, f: impl FnOnce(&mut DbConn) -> StoreResult<T>) -> StoreResult<T> {
        match self {
            DbConn::Sqlite(c) => {
                AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")
            }
            DbConn::Pg(c) => AnsiTransactionManager::begin_transaction(c),
        }?;
        self.finish(f)
    }

    /// Runs `f` in a read transaction, so its queries see one snapshot.
    pub fn read<T>(&mut self, f: impl FnOnce(&mut DbConn) -> StoreResult<T>) -> StoreResult<T> {
        match self {
            DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction(c),
            DbConn::Pg(c) => AnsiTransactionManager::begin_transaction_sql(
                c,
                "BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY",
            ),
        }?;
        self.finish(f)
    }

    fn finish<T>(&mut self, f: impl FnOnce(&mut DbConn) -> StoreResult<T>) -> StoreResult<T> {
        let result = f(self);
        let end = match (&result, &mut *self) {
            (Ok(_), DbConn::Sqlite(c)) => AnsiTransactionManager::commit_transaction(c),
            (Ok(_), DbConn::Pg(c)) => AnsiTransactionManager::commit_transaction(c),
            (Err(_), DbConn::Sqlite(c)) => AnsiTransactionManager::rollback_transaction(c),
            (Err(_), DbConn::Pg(c)) => AnsiTransactionManager::rollback_transaction(c),
        };
        match (result, end) {
            (Ok(v), Ok(())) => Ok(v),
            (Ok(_), Err(e)) => Err(StoreError::Database(e)),
            (Err(e), _) => Err(e),
        }
    }

    /// Locks a license row for the rest of the write transaction, so a limit checked on it
    /// cannot be overtaken by a concurrent transaction. PostgreSQL needs `SELECT ... FOR UPDATE`;
    /// SQLite already holds the database write lock since `BEGIN IMMEDIATE`.
    pub(crate) fn lock_license(&mut self, id: &str) -> StoreResult<()> {
        use crate::schema::licenses::dsl as l;
        match self {
            DbConn::Pg(c) => {
                l::licenses
                    .filter(l::id.eq(id))
                    .select(l::id)
                    .for_update()
                    .first::<String>(c)
                    .optional()?;
            }
            DbConn::Sqlite(_) => {}
        }
        Ok(())
    }

    /// Locks a job row for the rest of the write transaction (PostgreSQL; SQLite holds the
    /// database write lock already), so two workers cannot mint the same batch.
    pub(crate) fn lock_job(&mut self, id: &str) -> StoreResult<()> {
        use crate::schema::jobs::dsl as j;
        match self {
            DbConn::Pg(c) => {
                j::jobs
                    .filter(j::id.eq(id))
                    .select(j::id)
                    .for_update()
                    .first::<String>(c)
                    .optional()?;
            }
            DbConn::Sqlite(_) => {}
        }
        Ok(())
    }

    /// Ids of up to `limit` due deliveries of one endpoint (oldest first), claimed for this
    /// transaction: PostgreSQL takes them `FOR UPDATE SKIP LOCKED`, so concurrent workers on
    /// several instances claim disjoint rows; SQLite's write lock (held since `BEGIN IMMEDIATE`) already makes one worker at a time.
    pub(crate) fn claim_due_deliveries(
        &mut self,
        endpoint: &str,
        now: time::PrimitiveDateTime,
        limit: i64,
    ) -> StoreResult<Vec<String>> {
        use crate::schema::webhook_deliveries::dsl as d;
        let q = d::webhook_deliveries
            .filter(d::endpoint_id.eq(endpoint))
            .filter(d::status.eq("pending"))
            .filter(d::next_attempt_at.le(now))
            .order(d::next_attempt_at.asc())
            .select(d::id)
            .limit(limit);
        Ok(claim!(self, q))
    }

    /// The id of the oldest unfinished job whose claim has lapsed, claimed like
    /// [`DbConn::claim_due_deliveries`].
    pub(crate) fn claim_job(
        &mut self,
        now: time::PrimitiveDateTime,
    ) -> StoreResult<Option<String>> {
        use crate::schema::jobs::dsl as j;
        let q = j::jobs
            .filter(j::status.eq_any(["queued", "running"]))
            .filter(j::claimed_until.is_null().or(j::claimed_until.le(now)))
            .order(j::id.asc())
            .select(j::id)
            .limit(1);
        Ok(claim!(self, q).pop())
    }

    /// Ids of up to `limit` outbox events not yet fanned out, claimed like
    /// [`DbConn::claim_due_deliveries`].
    pub(crate) fn claim_unfanned_events(&mut self, limit: i64) -> StoreResult<Vec<String>> {
        use crate::schema::events::dsl as e;
        let q = e::events
            .filter(e::fanned_out.eq(false))
            .order(e::id.asc())
            .select(e::id)
            .limit(limit);
        Ok(claim!(self, q))
    }

    /// Ids of up to `limit` outbox events the mail worker has not seen, claimed like
    /// [`DbConn::claim_due_deliveries`].
    pub(crate) fn claim_unmailed_events(&mut self, limit: i64) -> StoreResult<Vec<String>> {
        use crate::schema::events::dsl as e;
        let q = e::events
            .filter(e::mailed.eq(false))
            .order(e::id.asc())
            .select(e::id)
            .limit(limit);
        Ok(claim!(self, q))
    }

    /// Ids of up to `limit` due mail deliveries (oldest due first), claimed like
    /// [`DbConn::claim_due_deliveries`].
    pub(crate) fn claim_due_mail(
        &mut self,
        now: time::PrimitiveDateTime,
        limit: i64,
    ) -> StoreResult<Vec<String>> {
        use crate::schema::mail_deliveries::dsl as m;
        let q = m::mail_deliveries
            .filter(m::status.eq("pending"))
            .filter(m::next_attempt_at.le(now))
            .order(m::next_attempt_at.asc())
            .select(m::id)
            .limit(limit);
        Ok(claim!(self, q))
    }

    /// Whether this is a PostgreSQL connection.
    pub fn is_postgres(&self) -> bool {
        matches!(self, DbConn::Pg(_))
    }
}

/// Inserts many rows in one transaction, the fastest way for each backend. PostgreSQL gets one
/// multi-row `INSERT` (one round trip). SQLite, in-process, is fastest with one cached prepared
/// single-row statement executed per row: a 500-row statement would be parsed anew every time.
/// (`MultiConnection` cannot express a multi-row `VALUES` at all; the row structs set
/// `treat_none_as_default_value = false` so the PostgreSQL statement binds NULLs, not DEFAULT.)
macro_rules! insert_many {
    ($conn:expr, $table:expr, $rows:expr) => {
        match $conn {
            $crate::db::DbConn::Pg(c) => diesel::insert_into($table).values($rows).execute(c),
            $crate::db::DbConn::Sqlite(c) => $rows.iter().try_fold(0, |n, row| {
                diesel::insert_into($table)
                    .values(row)
                    .execute(c)
                    .map(|k| n + k)
            }),
        }
    };
}
pub(crate) use insert_many;

#[cfg(test)]
mod tests {
    use super::with_pg_timeouts;

    #[test]
    fn postgres_urls_get_the_timeouts_they_do_not_set_themselves() {
        let u = with_pg_timeouts("postgres://u@h/db");
        assert!(u.starts_with("postgres://u@h/db?connect_timeout=2&keepalives=1&"));
        assert!(u.ends_with("&tcp_user_timeout=2000"));
        let u = with_pg_timeouts("postgres://u@h/db?sslmode=require&connect_timeout=9");
        assert!(u.starts_with("postgres://u@h/db?sslmode=require&connect_timeout=9&keepalives=1"));
        assert_eq!(u.matches("connect_timeout").count(), 1);
    }
}
