//! Test databases and fixtures, for this crate's tests and the layers above (feature `testkit`).
//!
//! `TestDb::sqlite()` is a fresh SQLite file in a temporary folder. `TestDb::postgres()` creates a
//! fresh database on the server at `KEYSMITH_TEST_PG_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) and drops it afterwards. When that server cannot
//! be reached, PostgreSQL tests print why and skip — except in CI (`CI` set) or with
//! `KEYSMITH_TEST_REQUIRE_PG=1`, where they fail.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test support: any failure must fail the test at once"
)]

use crate::control::ControlStore;
use crate::customers::NewCustomer;
use crate::generators::NewGenerator;
use crate::licenses::{Created, NewLicense};
use crate::model::{Customer, ExpiryBasis, Generator, Product};
use crate::products::NewProduct;
use crate::{Actor, Store};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use license_core::{KeyFormat, LicenseKey, MasterKey};
use time::OffsetDateTime;
use uuid::Uuid;

pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub fn master() -> MasterKey {
    MasterKey::from_bytes([42; 32])
}

#[derive(Debug)]
pub enum Backing {
    Sqlite(tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

#[derive(Debug)]
pub struct TestDb {
    pub store: Store,
    pub url: String,
    backing: Backing,
}

impl std::ops::Deref for TestDb {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

pub fn pg_admin_url() -> String {
    std::env::var("KEYSMITH_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_owned())
}

fn pg_required() -> bool {
    std::env::var_os("CI").is_some() || std::env::var_os("KEYSMITH_TEST_REQUIRE_PG").is_some()
}

/// The URL of database `name` on the server of `admin_url`.
pub fn pg_url_for(admin_url: &str, name: &str) -> String {
    let (base, _) = admin_url
        .rsplit_once('/')
        .expect("a PostgreSQL URL has a path");
    format!("{base}/{name}")
}

/// Creates a fresh PostgreSQL database; `None` (with the reason printed) when there is no server
/// and none is required.
pub fn fresh_pg_database() -> Option<(String, String)> {
    let admin_url = pg_admin_url();
    let mut admin = match PgConnection::establish(&admin_url) {
        Ok(c) => c,
        Err(e) if !pg_required() => {
            eprintln!("skipping PostgreSQL test: cannot connect to {admin_url}: {e}");
            return None;
        }
        Err(e) => panic!("PostgreSQL is required here (CI) but {admin_url} is unreachable: {e}"),
    };
    let name = format!("keysmith_test_{}", Uuid::new_v4().simple());
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .expect("create test database");
    Some((admin_url, name))
}

impl TestDb {
    /// A fresh SQLite database for environment `test`.
    pub fn sqlite() -> Self {
        Self::sqlite_named("test")
    }

    /// A fresh SQLite database for environment `env`.
    pub fn sqlite_named(env: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        let store = Store::open(env, &url, &master()).unwrap();
        Self {
            store,
            url,
            backing: Backing::Sqlite(dir),
        }
    }

    /// A fresh PostgreSQL database for environment `test` (see the module docs for skipping).
    pub fn postgres() -> Option<Self> {
        Self::postgres_named("test")
    }

    /// A fresh PostgreSQL database for environment `env`.
    pub fn postgres_named(env: &str) -> Option<Self> {
        let (admin_url, name) = fresh_pg_database()?;
        let url = pg_url_for(&admin_url, &name);
        let store = Store::open(env, &url, &master()).unwrap();
        Some(Self {
            store,
            url,
            backing: Backing::Postgres { admin_url, name },
        })
    }

    /// Whether this is PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        matches!(self.backing, Backing::Postgres { .. })
    }

    /// A second store on the same database (as another process would open it).
    pub fn reopen(&self) -> Store {
        Store::open(self.store.env(), &self.url, &master()).unwrap()
    }

    /// A fresh control database on the same backend (operators and sessions, SPEC §11).
    pub fn control(&self) -> TestControlDb {
        match &self.backing {
            Backing::Sqlite(_) => TestControlDb::sqlite(),
            Backing::Postgres { .. } => {
                let (admin_url, name) = fresh_pg_database().expect("PostgreSQL is up");
                let url = pg_url_for(&admin_url, &name);
                TestControlDb {
                    store: ControlStore::open(&url, &master()).unwrap(),
                    url,
                    _backing: Backing::Postgres { admin_url, name },
                }
            }
        }
    }

    pub fn sqlite_file(&self) -> Option<std::path::PathBuf> {
        match &self.backing {
            Backing::Sqlite(dir) => Some(dir.path().join("test.db")),
            Backing::Postgres { .. } => None,
        }
    }
}

/// A PostgreSQL test database is dropped with its owner (after the owner's pool, declared first).
impl Drop for Backing {
    fn drop(&mut self) {
        if let Backing::Postgres { admin_url, name } = self
            && let Ok(mut admin) = PgConnection::establish(admin_url)
        {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

/// A fresh control database (see [`TestDb::control`]).
#[derive(Debug)]
pub struct TestControlDb {
    pub store: ControlStore,
    pub url: String,
    _backing: Backing,
}

impl std::ops::Deref for TestControlDb {
    type Target = ControlStore;
    fn deref(&self) -> &ControlStore {
        &self.store
    }
}

impl TestControlDb {
    /// A fresh SQLite control database.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("control.db").display());
        Self {
            store: ControlStore::open(&url, &master()).unwrap(),
            url,
            _backing: Backing::Sqlite(dir),
        }
    }
}

/// SQLite's write lock, held by a connection of its own (`BEGIN IMMEDIATE`) until dropped: a
/// long write elsewhere, for tests of what must not wait for one.
pub struct WriteLock(diesel::SqliteConnection);

impl std::fmt::Debug for WriteLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriteLock")
    }
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        self.0.batch_execute("ROLLBACK").unwrap();
    }
}

impl TestDb {
    /// Takes the SQLite database's write lock until the guard is dropped (panics on PostgreSQL,
    /// which has no database-wide write lock).
    pub fn hold_write_lock(&self) -> WriteLock {
        let path = self
            .url
            .strip_prefix("sqlite://")
            .expect("a SQLite test database");
        let mut c = diesel::SqliteConnection::establish(path).unwrap();
        c.batch_execute("BEGIN IMMEDIATE").unwrap();
        WriteLock(c)
    }
}

/// One test body, run on SQLite and on PostgreSQL: `both_backends! { fn name(db) { ... } }`
/// makes tests `name::sqlite` and `name::postgres`, each with a fresh `TestDb` in `db`.
#[macro_export]
macro_rules! both_backends {
    ($(#[$meta:meta])* fn $name:ident($db:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            fn run($db: &$crate::testkit::TestDb) $body
            #[test]
            fn sqlite() {
                run(&$crate::testkit::TestDb::sqlite());
            }
            #[test]
            fn postgres() {
                if let Some(db) = $crate::testkit::TestDb::postgres() {
                    run(&db);
                }
            }
        }
    };
}

pub fn now() -> OffsetDateTime {
    crate::model::stored(OffsetDateTime::now_utc())
}

pub fn admin() -> Actor {
    Actor::named("test-admin", "req-test")
}

pub fn chunked() -> KeyFormat {
    KeyFormat::Chunked {
        chunks: 4,
        chunk_len: 4,
        check: true,
    }
}

/// A product, a generator and a customer to mint against.
#[derive(Debug)]
pub struct Fixture {
    pub product: Product,
    pub generator: Generator,
    pub customer: Customer,
}

impl Fixture {
    pub fn new(store: &Store) -> Self {
        Self::with_generator(store, |_| {})
    }

    pub fn with_generator(store: &Store, tweak: impl FnOnce(&mut NewGenerator)) -> Self {
        let t = now();
        let code = format!(
            "P{}",
            &Uuid::new_v4().simple().to_string()[..5].to_uppercase()
        );
        let product = store
            .create_product(
                &admin(),
                t,
                NewProduct {
                    name: "Acme Pro".into(),
                    code,
                    metadata: None,
                },
            )
            .unwrap();
        let mut g = NewGenerator {
            product_id: product.id,
            name: "default".into(),
            format: chunked(),
            default_activation_limit: Some(5),
            default_validity_days: None,
            expiry_basis: Some(ExpiryBasis::Creation),
            default_feature_flags: None,
            lease_ttl_seconds: None,
        };
        tweak(&mut g);
        let generator = store.create_generator(&admin(), t, g).unwrap();
        let customer = store
            .create_customer(
                &admin(),
                t,
                NewCustomer {
                    name: "Ada Lovelace".into(),
                    email: format!("ada-{}@example.com", Uuid::new_v4().simple()),
                    metadata: None,
                },
            )
            .unwrap();
        Self {
            product,
            generator,
            customer,
        }
    }

    pub fn new_license(&self) -> NewLicense {
        NewLicense {
            product_id: self.product.id,
            generator_id: self.generator.id,
            customer_id: None,
            activation_limit: None,
            expires_at: None,
            feature_flags: None,
            metadata: None,
        }
    }

    /// An available license.
    pub fn available(&self, store: &Store) -> Created {
        store
            .create_license(&admin(), now(), self.new_license())
            .unwrap()
    }

    /// A license assigned to the fixture's customer, with `limit`.
    pub fn assigned(&self, store: &Store, limit: i64) -> Created {
        let mut n = self.new_license();
        n.customer_id = Some(self.customer.id);
        n.activation_limit = Some(limit);
        store.create_license(&admin(), now(), n).unwrap()
    }
}

pub fn fp(s: &str) -> license_core::Fingerprint {
    license_core::Fingerprint::new(s).unwrap()
}

pub fn key_of(c: &Created) -> &str {
    let k: &LicenseKey = &c.key;
    k.expose()
}

/// Counts of (audit entries, events) in the database.
pub fn log_counts(store: &Store) -> (i64, i64) {
    use crate::schema::{audit_entries, events};
    let mut c = store.conn().unwrap();
    let a = audit_entries::table.count().get_result(&mut *c).unwrap();
    let e = events::table.count().get_result(&mut *c).unwrap();
    (a, e)
}

/// Moves a license's expiry to `at` (which may be in the past) straight in the database, as
/// time passing would; the API refuses past expiries.
pub fn set_expiry(store: &Store, license_id: Uuid, at: OffsetDateTime) {
    use crate::schema::licenses;
    diesel::update(licenses::table.find(license_id.to_string()))
        .set(licenses::expires_at.eq(crate::model::to_db(at)))
        .execute(&mut *store.conn().unwrap())
        .unwrap();
}
