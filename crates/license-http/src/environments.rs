//! The environments a process serves: one store each, plus short-lived caches of what every
//! validation request needs (settings, the active signing key, the published keys), so a
//! request costs no extra query for them.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use license_core::lease::{self, Claims};
use license_core::{MasterKey, SigningKey};
use license_store::model::License;
use license_store::settings::Settings;
use license_store::signing_keys::PublishedKey;
use license_store::{Store, StoreError, StoreResult};
use time::OffsetDateTime;

use crate::config::Config;

/// How long cached settings and keys are trusted before they are read again (a key rotated by
/// `keysmith keys rotate` in another process is picked up within this time).
pub const CACHE_TTL: Duration = Duration::from_secs(10);

struct Cached<T> {
    at: Instant,
    value: T,
}

/// One environment.
pub struct Environment {
    name: String,
    store: Store,
    settings: RwLock<Option<Cached<Arc<Settings>>>>,
    signer: RwLock<Option<Cached<Arc<SigningKey>>>>,
    keys: RwLock<Option<Cached<Arc<Vec<PublishedKey>>>>>,
}

impl std::fmt::Debug for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Environment")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

fn cached<T: Clone>(
    slot: &RwLock<Option<Cached<T>>>,
    load: impl FnOnce() -> StoreResult<T>,
) -> StoreResult<T> {
    if let Ok(guard) = slot.read()
        && let Some(c) = guard.as_ref()
        && c.at.elapsed() < CACHE_TTL
    {
        return Ok(c.value.clone());
    }
    let value = load()?;
    if let Ok(mut guard) = slot.write() {
        *guard = Some(Cached {
            at: Instant::now(),
            value: value.clone(),
        });
    }
    Ok(value)
}

/// The cached value if it is still fresh; never loads.
fn fresh<T: Clone>(slot: &RwLock<Option<Cached<T>>>) -> Option<T> {
    let guard = slot.read().ok()?;
    let c = guard.as_ref()?;
    (c.at.elapsed() < CACHE_TTL).then(|| c.value.clone())
}

/// When a lease is signed and for how long it may be trusted (see [`Environment::sign_lease`]).
#[derive(Debug, Clone, Copy)]
pub struct LeaseTerms {
    /// The generator's lease TTL.
    pub ttl: time::Duration,
    /// The environment's grace period.
    pub grace: time::Duration,
    /// Now.
    pub now: OffsetDateTime,
}

impl Environment {
    /// Wraps an open store.
    pub fn new(name: &str, store: Store) -> Self {
        Self {
            name: name.to_owned(),
            store,
            settings: RwLock::new(None),
            signer: RwLock::new(None),
            keys: RwLock::new(None),
        }
    }

    /// The environment's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Settings (cached for [`CACHE_TTL`]).
    pub fn settings(&self) -> StoreResult<Arc<Settings>> {
        cached(&self.settings, || self.store.settings().map(Arc::new))
    }

    /// The active signing key (cached).
    pub fn signer(&self) -> StoreResult<Arc<SigningKey>> {
        cached(&self.signer, || {
            self.store.active_signing_key().map(Arc::new)
        })
    }

    /// Settings if the cache holds them fresh (never a query: for the async worker).
    pub fn fresh_settings(&self) -> Option<Arc<Settings>> {
        fresh(&self.settings)
    }

    /// The active signing key if the cache holds it fresh (never a query).
    pub fn fresh_signer(&self) -> Option<Arc<SigningKey>> {
        fresh(&self.signer)
    }

    /// Every published key (cached).
    pub fn published_keys(&self) -> StoreResult<Arc<Vec<PublishedKey>>> {
        cached(&self.keys, || self.store.published_keys().map(Arc::new))
    }

    /// Signs a lease (SPEC §6) for license `l` with the environment's active key: bound to `fp`
    /// when given, echoing `nonce`, trusted until `now + ttl` but never past the license's expiry
    /// plus `grace`.
    pub fn issue_lease(
        &self,
        l: &License,
        fp: Option<&str>,
        nonce: Option<String>,
        ttl: time::Duration,
        grace: time::Duration,
        now: OffsetDateTime,
    ) -> StoreResult<String> {
        let terms = LeaseTerms { ttl, grace, now };
        self.sign_lease(&*self.signer()?, l, fp, nonce, terms)
    }

    /// [`Environment::issue_lease`] with a signing key the caller already holds (the active one,
    /// from [`Environment::fresh_signer`]).
    pub fn sign_lease(
        &self,
        signer: &SigningKey,
        l: &License,
        fp: Option<&str>,
        nonce: Option<String>,
        LeaseTerms { ttl, grace, now }: LeaseTerms,
    ) -> StoreResult<String> {
        let exp = lease::lease_expiry(now, ttl, l.expires_at, grace);
        let claims = Claims {
            kid: signer.kid().to_owned(),
            env: self.name.clone(),
            lid: l.id,
            pid: l.product_id,
            fp: fp.map(str::to_owned),
            st: l.status,
            ent: l.feature_flags.clone(),
            iat: now.unix_timestamp(),
            exp: exp.unix_timestamp(),
            lexp: l.expires_at.map(OffsetDateTime::unix_timestamp),
            nonce,
        };
        // The signer is this environment's active key, so the kid always matches.
        signer
            .sign(&claims)
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    /// Forgets cached values (after a settings change in this process).
    pub fn invalidate(&self) {
        if let Ok(mut g) = self.settings.write() {
            *g = None;
        }
        if let Ok(mut g) = self.signer.write() {
            *g = None;
        }
        if let Ok(mut g) = self.keys.write() {
            *g = None;
        }
    }
}

/// All environments of this process, by name.
#[derive(Debug, Clone, Default)]
pub struct Environments {
    map: HashMap<String, Arc<Environment>>,
}

/// What happened while opening the environments, for the start-up log.
#[derive(Debug, Default)]
pub struct OpenReport {
    /// Environments that got their first signing key.
    pub signing_keys_created: Vec<String>,
    /// Environments where `KEYSMITH_ADMIN_TOKEN` became the `bootstrap` token.
    pub bootstrap_tokens: Vec<String>,
}

impl Environments {
    /// Opens every configured environment: migrates, creates the first signing key, on an
    /// environment's first start installs the bootstrap admin token (`KEYSMITH_ADMIN_TOKEN`),
    /// and starts the database probe (`Store::watch`, PostgreSQL only).
    pub fn open(
        config: &Config,
        master: &MasterKey,
        now: OffsetDateTime,
    ) -> Result<(Self, OpenReport), String> {
        let mut map = HashMap::new();
        let mut report = OpenReport::default();
        for e in &config.environments {
            let var = crate::config::database_url_var(&e.name);
            let store = Store::open(&e.name, &e.database_url, master)
                .map_err(|err| format!("{var} (environment {}): {err}", e.name))?;
            let fail = |err: StoreError| format!("environment {}: {err}", e.name);
            if store.ensure_signing_key(now).map_err(fail)? {
                report.signing_keys_created.push(e.name.clone());
            }
            if store
                .bootstrap_admin_token(now, config.admin_token.as_deref())
                .map_err(fail)?
            {
                report.bootstrap_tokens.push(e.name.clone());
            }
            let name = e.name.clone();
            store
                .watch(move |up| {
                    if up {
                        tracing::warn!(environment = %name, "database answers again");
                    } else {
                        tracing::error!(environment = %name, "database does not answer; requests that need it get 503");
                    }
                })
                .map_err(|err| format!("environment {}: cannot start its database probe: {err}", e.name))?;
            map.insert(e.name.clone(), Arc::new(Environment::new(&e.name, store)));
        }
        Ok((Self { map }, report))
    }

    /// Environments from already open stores (tests).
    pub fn from_stores(stores: impl IntoIterator<Item = Store>) -> Self {
        let map = stores
            .into_iter()
            .map(|s| {
                let name = s.env().to_owned();
                (name.clone(), Arc::new(Environment::new(&name, s)))
            })
            .collect();
        Self { map }
    }

    /// The environment called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<Environment>> {
        self.map.get(name)
    }

    /// Every environment.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Environment>> {
        self.map.values()
    }
}
