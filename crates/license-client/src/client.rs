//! The client a program holds: its configuration ([`Builder`]), the cached state, and the four
//! calls of SPEC §13. Every lease is verified with `license_core::lease::verify` before it counts;
//! the rules around it (refresh at half life, offline fallback, clock rollback, one `/keys`
//! refetch for an unknown key id) live here.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use license_core::lease::{self, Claims, Expect, LeaseError};
use license_core::{Fingerprint, LicenseKey};
use rand::Rng;
use serde::de::IgnoredAny;
use time::OffsetDateTime;

use crate::Error;
use crate::builder::Builder;
use crate::cache::{self, Cached};
use crate::clock::Clock;
use crate::http::{Answer, Failure, LeaseAnswer, Request, Transport};
use crate::status::{NONCE_MISMATCH, NOT_ACTIVATED, Status, lease_code};

/// How far the local clock may be behind the latest time this client has seen before it counts
/// as set back ([`Status::ClockTampered`]).
pub const MAX_CLOCK_ROLLBACK: time::Duration = time::Duration::HOUR;

/// The latest time seen is written to the cache when it has moved this many seconds since the
/// last write, so a program that checks often does not write the file on every check.
const PERSIST_STEP_SECS: i64 = 600;

/// A license client for one environment of one Keysmith validation API, bound to one instance
/// fingerprint. Cheap to share between threads (`&Client` is enough); calls are serialised.
#[derive(Debug)]
pub struct Client {
    url: String,
    environment: String,
    fingerprint: Fingerprint,
    product: Option<String>,
    cache_path: PathBuf,
    clock: Arc<dyn Clock>,
    http: Transport,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    cached: Cached,
    /// The last lease whose signature verified, and its claims.
    verified: Option<Verified>,
    /// `cached.latest_seen` as last written to the file.
    persisted_seen: i64,
    /// No request before this time: the server's `Retry-After`.
    quiet_until: Option<OffsetDateTime>,
}

/// The answers check and validate give before looking at any lease.
#[derive(Debug, Clone, Copy)]
enum Early {
    ClockTampered,
    NotActivated,
}

impl Early {
    fn status(self) -> Status {
        match self {
            Self::ClockTampered => Status::ClockTampered,
            Self::NotActivated => Status::invalid(NOT_ACTIVATED),
        }
    }
}

#[derive(Debug)]
struct Verified {
    token: String,
    claims: Claims,
}

impl Client {
    /// Starts configuring a client of the validation API at `validation_url` (e.g.
    /// `https://licenses.example.com`) for `environment` (e.g. `production`).
    pub fn builder(validation_url: impl Into<String>, environment: impl Into<String>) -> Builder {
        Builder::new(validation_url.into(), environment.into())
    }

    /// Assembles a client from a checked configuration and its loaded cache ([`Builder::build`]).
    #[expect(
        clippy::too_many_arguments,
        reason = "the builder's fields, checked, in one place"
    )]
    pub(crate) fn assemble(
        url: String,
        environment: String,
        fingerprint: Fingerprint,
        product: Option<String>,
        cache_path: PathBuf,
        cached: Cached,
        clock: Arc<dyn Clock>,
        http: Transport,
    ) -> Client {
        Client {
            url,
            environment,
            fingerprint,
            product,
            cache_path,
            clock,
            http,
            state: Mutex::new(State {
                persisted_seen: cached.latest_seen,
                cached,
                verified: None,
                quiet_until: None,
            }),
        }
    }

    /// The cache file this client reads and writes.
    pub fn cache_file(&self) -> &Path {
        &self.cache_path
    }

    /// The call a program makes at start-up and every few hours: may it run?
    ///
    /// While the cached lease is in the first half of its life this answers from the cache
    /// alone, without any network (`Valid { refreshed: false }`). Later it asks the server (as
    /// [`validate`](Self::validate) does). When the server cannot be reached, the cached lease
    /// keeps the program licensed until its `exp` (`Offline`); a 4xx answer is authoritative
    /// (`Invalid`) and drops the cached lease. A clock set back more than an hour answers
    /// `ClockTampered` before anything else.
    ///
    /// `Err` only when neither the server nor the cache gives an answer (for example: no
    /// network and no lease ever cached).
    pub fn check(&self) -> Result<Status, Error> {
        let now = self.clock.now();
        let mut st = self.lock();
        let cached = match self.start(&mut st, now) {
            Ok(cached) => cached,
            Err(early) => return Ok(early.status()),
        };
        if let Some(Ok(claims)) = &cached
            && !past_half_life(claims, now)
        {
            return Ok(licensed(&st, claims.clone(), now, false));
        }
        self.refresh(&mut st, cached)
    }

    /// Asks the server now, whatever the age of the cached lease, and caches the fresh lease.
    /// Falls back on the cache exactly as [`check`](Self::check) does.
    pub fn validate(&self) -> Result<Status, Error> {
        let now = self.clock.now();
        let mut st = self.lock();
        match self.start(&mut st, now) {
            Ok(cached) => self.refresh(&mut st, cached),
            Err(early) => Ok(early.status()),
        }
    }

    /// Activates this instance with license `key` (as the customer typed it), naming the device
    /// `name` and `platform` for the vendor's records. On success the key and the lease are
    /// cached, so [`check`](Self::check) works after a restart; activating again is harmless
    /// (`ALREADY_ACTIVATED` takes no new slot). A refusal answers `Invalid { code }`
    /// (`LIMIT_EXCEEDED`, `SUSPENDED`, `NOT_FOUND`, ...) and changes nothing.
    ///
    /// `Err` when the server cannot be reached, or the cache cannot be written.
    pub fn activate(
        &self,
        key: &str,
        name: Option<&str>,
        platform: Option<&str>,
    ) -> Result<Status, Error> {
        let now = self.clock.now();
        let mut st = self.lock();
        if self.observe(&mut st, now) {
            return Ok(Status::ClockTampered);
        }
        let key = LicenseKey::from_input(key);
        let request = Request {
            key: key.expose(),
            fingerprint: self.fingerprint.as_str(),
            product: None,
            nonce: None,
            name,
            platform,
        };
        match self.call(&mut st, |http| http.activate(&request)) {
            Ok(Answer::Accepted(answer)) => {
                st.cached.key = Some(key);
                st.cached.lease = None;
                st.cached.grace_until = None;
                let status = self.accept(&mut st, answer, None);
                self.save(&mut st)?;
                Ok(status)
            }
            Ok(Answer::Refused(refusal)) => Ok(Status::Invalid { code: refusal.code }),
            Err(failure) => Err(self.failure_error(failure)),
        }
    }

    /// Deactivates this instance, freeing its slot on the license, and forgets the key and the
    /// lease. `Ok` also when the server holds no activation for it any more (`NOT_FOUND`).
    /// Tried once (not retried): a retry after a lost answer could not tell success from
    /// `NOT_FOUND`.
    pub fn deactivate(&self) -> Result<(), Error> {
        let mut st = self.lock();
        let key = st.cached.key.clone().ok_or(Error::NotActivated)?;
        let request = Request {
            key: key.expose(),
            fingerprint: self.fingerprint.as_str(),
            product: None,
            nonce: None,
            name: None,
            platform: None,
        };
        match self.call(&mut st, |http| http.deactivate(&request)) {
            Ok(Answer::Accepted(IgnoredAny)) => {}
            Ok(Answer::Refused(r)) if r.code == "NOT_FOUND" => {}
            Ok(Answer::Refused(r)) => {
                return Err(Error::Refused {
                    code: r.code,
                    message: r.message,
                });
            }
            Err(failure) => return Err(self.failure_error(failure)),
        }
        st.cached.key = None;
        st.cached.lease = None;
        st.cached.grace_until = None;
        self.save(&mut st)
    }

    /// The claims of the cached lease if it verifies now, without any network: what an
    /// `Offline` or `GracePeriod` program reads its entitlements (`claims.ent`) from. `None`
    /// when there is no such lease or the clock was set back.
    pub fn claims(&self) -> Option<Claims> {
        let now = self.clock.now();
        let mut st = self.lock();
        let tampered = now
            .unix_timestamp()
            .saturating_add(MAX_CLOCK_ROLLBACK.whole_seconds())
            < st.cached.latest_seen;
        let token = st.cached.lease.clone().filter(|_| !tampered)?;
        self.verify_cached(&mut st, &token, now).ok()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What check and validate do first: the clock guard, then the key, then the cached lease.
    /// `Err` is an answer that needs nothing more.
    fn start(
        &self,
        st: &mut State,
        now: OffsetDateTime,
    ) -> Result<Option<Result<Claims, LeaseError>>, Early> {
        if self.observe(st, now) {
            return Err(Early::ClockTampered);
        }
        if st.cached.key.is_none() {
            return Err(Early::NotActivated);
        }
        Ok(self.cached_lease(st, now))
    }

    /// Raises the latest time seen to `now`, or reports that the clock was set back by more
    /// than [`MAX_CLOCK_ROLLBACK`].
    fn observe(&self, st: &mut State, now: OffsetDateTime) -> bool {
        let t = now.unix_timestamp();
        if t.saturating_add(MAX_CLOCK_ROLLBACK.whole_seconds()) < st.cached.latest_seen {
            return true;
        }
        if t > st.cached.latest_seen {
            st.cached.latest_seen = t;
            if st.cached.key.is_some() && t.saturating_sub(st.persisted_seen) >= PERSIST_STEP_SECS {
                self.save_quietly(st);
            }
        }
        false
    }

    /// The cached lease checked at `now`, or `None` when there is none. A lease that fails for
    /// any reason but time (bad signature, unknown key even after refetching `/keys`, another
    /// fingerprint or environment, malformed) is dropped from the cache: a tampered or corrupt
    /// lease counts as no lease.
    fn cached_lease(
        &self,
        st: &mut State,
        now: OffsetDateTime,
    ) -> Option<Result<Claims, LeaseError>> {
        let token = st.cached.lease.clone()?;
        let result = self.verify(st, &token, now);
        match result {
            Ok(_) | Err(LeaseError::Expired | LeaseError::IssuedInFuture) => {}
            Err(
                LeaseError::Malformed
                | LeaseError::UnknownKey
                | LeaseError::BadSignature
                | LeaseError::EnvironmentMismatch
                | LeaseError::FingerprintMismatch,
            ) => {
                st.cached.lease = None;
                st.cached.grace_until = None;
                self.save_quietly(st);
            }
        }
        Some(result)
    }

    /// `license_core::lease::verify` for this fingerprint and environment against the cached
    /// keys. The signature of a token is checked once per process: a token verified before is
    /// only held to the time rules again (the memo lives in memory, which no one edits but the
    /// program), so a check from the cache costs microseconds.
    fn verify_cached(
        &self,
        st: &mut State,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<Claims, LeaseError> {
        if let Some(v) = st.verified.as_ref().filter(|v| v.token == token) {
            return in_time(&v.claims, now).map(|()| v.claims.clone());
        }
        let expect = Expect {
            fingerprint: Some(self.fingerprint.as_str()),
            env: Some(&self.environment),
        };
        let result = lease::verify(token, &st.cached.keys, now, expect);
        if let Ok(claims) = &result {
            st.verified = Some(Verified {
                token: token.to_owned(),
                claims: claims.clone(),
            });
        }
        result
    }

    /// [`verify_cached`](Self::verify_cached); a key id not among the cached keys refetches
    /// `/keys` once (the environment's keys were rotated).
    fn verify(
        &self,
        st: &mut State,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<Claims, LeaseError> {
        match self.verify_cached(st, token, now) {
            Err(LeaseError::UnknownKey) => {
                let quiet = st.quiet_until.is_some_and(|until| self.clock.now() < until);
                match (!quiet).then(|| self.http.keys()).flatten() {
                    Some(keys) => {
                        st.cached.keys = keys;
                        self.verify_cached(st, token, now)
                    }
                    None => Err(LeaseError::UnknownKey),
                }
            }
            other => other,
        }
    }

    /// Validates with the server and caches the answer; falls back on `cached` when the server
    /// cannot be reached.
    fn refresh(
        &self,
        st: &mut State,
        cached: Option<Result<Claims, LeaseError>>,
    ) -> Result<Status, Error> {
        let Some(key) = st.cached.key.clone() else {
            return Ok(Status::invalid(NOT_ACTIVATED));
        };
        let nonce = nonce();
        let request = Request {
            key: key.expose(),
            fingerprint: self.fingerprint.as_str(),
            product: self.product.as_deref(),
            nonce: Some(&nonce),
            name: None,
            platform: None,
        };
        match self.call(st, |http| http.validate(&request)) {
            Ok(Answer::Accepted(answer)) => {
                let status = self.accept(st, answer, Some(&nonce));
                self.save_quietly(st);
                Ok(status)
            }
            Ok(Answer::Refused(refusal)) => {
                st.cached.lease = None;
                st.cached.grace_until = None;
                self.save_quietly(st);
                Ok(Status::Invalid { code: refusal.code })
            }
            Err(failure) => {
                let now = self.clock.now();
                match cached {
                    Some(Ok(claims)) if now.unix_timestamp() < claims.exp => Ok(Status::Offline {
                        lease_valid_until: at(claims.exp),
                    }),
                    Some(Ok(_)) => Ok(Status::invalid(lease_code(LeaseError::Expired))),
                    Some(Err(e)) => Ok(Status::invalid(lease_code(e))),
                    None => Err(self.failure_error(failure)),
                }
            }
        }
    }

    /// Takes a fresh lease from a successful answer into the state (not yet saved): verified,
    /// and with the nonce this client sent, if any.
    fn accept(&self, st: &mut State, answer: LeaseAnswer, nonce: Option<&str>) -> Status {
        let Some(token) = answer.lease else {
            return Status::invalid(lease_code(LeaseError::Malformed));
        };
        let now = self.clock.now();
        match self.verify(st, &token, now) {
            Ok(claims) if nonce.is_some_and(|n| claims.nonce.as_deref() != Some(n)) => {
                Status::invalid(NONCE_MISMATCH)
            }
            Ok(claims) => {
                st.cached.lease = Some(token);
                // Whole seconds, as the cache keeps it and as lease times are.
                st.cached.grace_until = answer.grace_until.map(|t| at(t.unix_timestamp()));
                st.cached.latest_seen = st.cached.latest_seen.max(claims.iat);
                licensed(st, claims, now, true)
            }
            Err(e) => Status::invalid(lease_code(e)),
        }
    }

    /// Runs one call unless the server asked for quiet, and remembers a new request for quiet.
    fn call<T>(
        &self,
        st: &mut State,
        f: impl FnOnce(&Transport) -> Result<Answer<T>, Failure>,
    ) -> Result<Answer<T>, Failure> {
        let now = self.clock.now();
        if let Some(until) = st.quiet_until {
            if now < until {
                return Err(Failure::RateLimited((until - now).unsigned_abs()));
            }
            st.quiet_until = None;
        }
        let result = f(&self.http);
        if let Err(Failure::RateLimited(wait)) = &result {
            let wait = time::Duration::try_from(*wait).unwrap_or(time::Duration::MAX);
            st.quiet_until = Some(self.clock.now().saturating_add(wait));
        }
        result
    }

    fn failure_error(&self, failure: Failure) -> Error {
        match failure {
            Failure::Unreachable(reason) => Error::Unreachable {
                url: self.url.clone(),
                reason,
            },
            Failure::RateLimited(retry_after) => Error::RateLimited { retry_after },
        }
    }

    fn save(&self, st: &mut State) -> Result<(), Error> {
        cache::save(&self.cache_path, &self.environment, &st.cached).map_err(|source| {
            Error::Cache {
                path: self.cache_path.clone(),
                source,
            }
        })?;
        st.persisted_seen = st.cached.latest_seen;
        Ok(())
    }

    /// Saves for check and validate: a cache that cannot be written must not stop a licensed
    /// program, so the state stays in memory and the next write tries again.
    fn save_quietly(&self, st: &mut State) {
        let _ = self.save(st);
    }
}

/// `Valid`, or `GracePeriod` once the license's own expiry (`lexp`) has passed.
fn licensed(st: &State, claims: Claims, now: OffsetDateTime, refreshed: bool) -> Status {
    match claims.lexp {
        Some(lexp) if now.unix_timestamp() >= lexp => Status::GracePeriod {
            until: st.cached.grace_until.unwrap_or_else(|| at(claims.exp)),
        },
        _ => Status::Valid { claims, refreshed },
    }
}

/// The time rules of `license_core::lease::verify`, for claims whose signature and bindings
/// were verified before: `iat` at most 300 s ahead of `now`, and `now` before `exp`.
fn in_time(claims: &Claims, now: OffsetDateTime) -> Result<(), LeaseError> {
    let now = now.unix_timestamp();
    if claims.iat > now.saturating_add(lease::MAX_CLOCK_SKEW.whole_seconds()) {
        return Err(LeaseError::IssuedInFuture);
    }
    if now >= claims.exp {
        return Err(LeaseError::Expired);
    }
    Ok(())
}

/// Whether the lease has lived half its life (`iat` to `exp`) at `now`: time to refresh.
fn past_half_life(claims: &Claims, now: OffsetDateTime) -> bool {
    let half = claims.exp.saturating_sub(claims.iat) / 2;
    now.unix_timestamp() >= claims.iat.saturating_add(half)
}

/// Unix seconds as a time, clamped to the representable range.
fn at(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).unwrap_or(if unix > 0 {
        time::PrimitiveDateTime::MAX.assume_utc()
    } else {
        time::PrimitiveDateTime::MIN.assume_utc()
    })
}

/// 128 random bits in hex: echoed in the lease, so a recorded answer cannot be replayed.
fn nonce() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builder() -> Builder {
        Client::builder("http://127.0.0.1:9", "production")
    }

    fn config_error(b: Builder) -> String {
        match b.build() {
            Err(Error::Config(m)) => m,
            other => panic!("expected a configuration error, got {other:?}"),
        }
    }

    #[test]
    fn the_builder_names_what_is_missing_or_wrong() {
        let dir = tempfile::tempdir().unwrap();
        assert!(config_error(builder().fingerprint("fp")).starts_with("cache_dir:"));
        assert!(config_error(builder().cache_dir(dir.path())).starts_with("fingerprint:"));
        let ok = || builder().cache_dir(dir.path()).fingerprint("fp");
        assert!(config_error(ok().fingerprint("")).starts_with("fingerprint:"));
        assert!(config_error(ok().product(" ")).starts_with("product:"));
        let bad_env = Client::builder("http://h", "Prod")
            .cache_dir(dir.path())
            .fingerprint("f");
        assert!(config_error(bad_env).starts_with("environment:"));
        let bad_url = Client::builder("ftp://h", "prod")
            .cache_dir(dir.path())
            .fingerprint("f");
        assert!(config_error(bad_url).starts_with("validation_url:"));
        let no_host = Client::builder("https://", "prod")
            .cache_dir(dir.path())
            .fingerprint("f");
        assert!(config_error(no_host).starts_with("validation_url:"));
        assert!(ok().build().is_ok());
    }

    #[test]
    fn a_lease_is_due_for_refresh_at_half_its_life() {
        let claims = |iat: i64, exp: i64| Claims {
            kid: String::new(),
            env: String::new(),
            lid: uuid::Uuid::nil(),
            pid: uuid::Uuid::nil(),
            fp: None,
            st: license_core::LicenseStatus::Active,
            ent: serde_json::Map::new(),
            iat,
            exp,
            lexp: None,
            nonce: None,
        };
        let c = claims(1000, 2000);
        assert!(!past_half_life(&c, at(1499)));
        assert!(past_half_life(&c, at(1500)));
        for (iat, exp) in [(i64::MAX, i64::MIN), (i64::MIN, i64::MAX)] {
            let _no_overflow_panic = past_half_life(&claims(iat, exp), at(0));
        }
    }

    #[test]
    fn the_time_rules_of_a_verified_lease_agree_with_core_at_every_boundary() {
        use rand::SeedableRng;
        let key = license_core::SigningKey::generate(&mut rand::rngs::StdRng::seed_from_u64(3));
        let c = Claims {
            kid: key.kid().to_owned(),
            env: "production".into(),
            lid: uuid::Uuid::nil(),
            pid: uuid::Uuid::nil(),
            fp: Some("fp".into()),
            st: license_core::LicenseStatus::Active,
            ent: serde_json::Map::new(),
            iat: 1_800_000_000,
            exp: 1_800_003_600,
            lexp: None,
            nonce: None,
        };
        let token = key.sign(&c).unwrap();
        let keys = [key.public_key()];
        for t in [c.iat - 301, c.iat - 300, c.iat, c.exp - 1, c.exp, c.exp + 1] {
            let core = lease::verify(&token, &keys, at(t), Expect::default()).map(|_| ());
            assert_eq!(in_time(&c, at(t)), core, "at {t}");
        }
    }

    #[test]
    fn nonces_are_32_hex_characters_and_differ() {
        let (a, b) = (nonce(), nonce());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }
}
