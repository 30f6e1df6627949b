//! The Rust SDK (`license-client`) against the real `keysmith` binary on a fresh SQLite data
//! folder: activation, the cache, offline running, clock rollback, revocation, key rotation,
//! corrupt and forged caches, rate limits, activation limits and deactivation. The client's
//! clock is a `ManualClock`, so days pass in a test without any sleep.
//!
//! Servers that a test stops, restarts or configures apart are its own; the others share one
//! server for as long as some test holds it (each test mints its own license on it).
#![expect(clippy::unwrap_used, reason = "test: any failure fails the test")]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration as StdDuration, Instant};

use license_client::{Claims, Client, Error, ManualClock, Status};
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

const ADMIN_TOKEN: &str = "ks_sdk_e2e_bootstrap_token_0123456789abcdef";
const ENV: &str = "production";

/// A `keysmith serve` child process on its own data folder and ports, logging JSON lines to
/// `keysmith.log` in that folder. Killed when dropped.
struct Keysmith {
    data: tempfile::TempDir,
    port: u16,
    admin_port: u16,
    rate_per_key: Option<u32>,
    child: Option<Child>,
    /// For the health probe and the admin API; statuses are answers, not errors.
    http: ureq::Agent,
}

/// Two distinct free ports on 127.0.0.1 (both listeners are held until both are known).
fn two_free_ports() -> (u16, u16) {
    let listeners = [(); 2].map(|()| TcpListener::bind("127.0.0.1:0").unwrap());
    let [a, b] = listeners.map(|l| l.local_addr().unwrap().port());
    (a, b)
}

impl Keysmith {
    fn new() -> Self {
        let (port, admin_port) = two_free_ports();
        Self {
            data: tempfile::tempdir().unwrap(),
            port,
            admin_port,
            rate_per_key: None,
            child: None,
            http: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into(),
        }
    }

    fn started() -> Self {
        let mut k = Self::new();
        k.launch();
        k
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_keysmith"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("KEYSMITH_DATA_DIR", self.data.path())
            .env("KEYSMITH_ENVIRONMENTS", ENV)
            .env(
                "KEYSMITH_VALIDATION_ADDR",
                format!("127.0.0.1:{}", self.port),
            )
            .env(
                "KEYSMITH_ADMIN_ADDR",
                format!("127.0.0.1:{}", self.admin_port),
            )
            .env("KEYSMITH_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("KEYSMITH_LOG", "info")
            .env("KEYSMITH_LOG_FORMAT", "json")
            .stdout(Stdio::null());
        if let Some(n) = self.rate_per_key {
            cmd.env("KEYSMITH_RATE_PER_KEY", n.to_string());
        }
        cmd
    }

    fn log_path(&self) -> PathBuf {
        self.data.path().join("keysmith.log")
    }

    /// Starts `keysmith serve` and waits for `/healthz`.
    fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        self.child = Some(self.command().arg("serve").stderr(log).spawn().unwrap());
        let deadline = Instant::now() + StdDuration::from_secs(30);
        let health = format!("{}/healthz", self.validation_url());
        while self.http.get(&health).call().is_err() {
            assert!(Instant::now() < deadline, "keysmith did not start");
            std::thread::sleep(StdDuration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// Runs a CLI command (`keys rotate ...`) on the same data folder; the server must be down.
    fn cli(&self, args: &[&str]) {
        let out = self
            .command()
            .args(args)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn validation_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn admin(&self, path: &str, body: Value) -> Value {
        let mut res = self
            .http
            .post(format!(
                "http://127.0.0.1:{}/v1/{ENV}{path}",
                self.admin_port
            ))
            .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
            .send_json(&body)
            .unwrap();
        let status = res.status().as_u16();
        let text = res.body_mut().read_to_string().unwrap();
        assert!(status < 300, "POST {path}: {status} {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// Mints an assigned license with `limit` activations through the admin API (a product,
    /// generator and customer of its own); its key and its id.
    fn license(&self, limit: u32) -> (String, String) {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let id = |created: Value| created["id"].clone();
        let (name, code) = (format!("SDK {n}"), format!("SDK{n}"));
        let product = id(self.admin("/products", json!({"name": name, "code": code})));
        let format = json!({"kind": "chunked", "chunks": 4, "chunk_len": 4, "check": true});
        let generator = json!({"product_id": product, "name": "std", "format": format});
        let generator = id(self.admin("/generators", generator));
        let (name, email) = (format!("Customer {n}"), format!("c{n}@example.com"));
        let customer = id(self.admin("/customers", json!({"name": name, "email": email})));
        let license = self.admin(
            "/licenses",
            json!({
                "product_id": product, "generator_id": generator,
                "customer_id": customer, "activation_limit": limit,
            }),
        );
        (
            license["key"].as_str().unwrap().to_owned(),
            license["id"].as_str().unwrap().to_owned(),
        )
    }

    /// How many requests the server logged for `route` (e.g. `/v1/{env}/keys`) and `status`.
    fn logged(&self, route: &str, status: u16) -> usize {
        std::fs::read_to_string(self.log_path())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| l["route"] == route && l["status"] == status)
            .count()
    }
}

impl Drop for Keysmith {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            drop(child.kill());
            drop(child.wait());
        }
    }
}

/// The server the tests that neither stop nor reconfigure it share, alive while one holds it.
fn shared() -> Arc<Keysmith> {
    static SHARED: Mutex<Weak<Keysmith>> = Mutex::new(Weak::new());
    let mut slot = SHARED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(k) = slot.upgrade() {
        return k;
    }
    let k = Arc::new(Keysmith::started());
    *slot = Arc::downgrade(&k);
    k
}

/// One installation of the customer's program: its cache folder, its clock (standing at
/// now) and its client of `server` for instance `fingerprint`.
struct Install {
    cache: tempfile::TempDir,
    clock: Arc<ManualClock>,
    fingerprint: &'static str,
    client: Client,
}

impl Install {
    fn new(server: &Keysmith, fingerprint: &'static str) -> Self {
        let cache = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(OffsetDateTime::now_utc()));
        let client = Self::client_of(server, cache.path(), fingerprint, &clock);
        Self {
            cache,
            clock,
            fingerprint,
            client,
        }
    }

    /// A new installation activated on a new one-seat license: it, the license's key and id,
    /// and the first lease's claims.
    fn activated(server: &Keysmith, fingerprint: &'static str) -> (Self, String, String, Claims) {
        let (key, id) = server.license(1);
        let m = Self::new(server, fingerprint);
        let claims = valid(m.client.activate(&key, None, None), true);
        (m, key, id, claims)
    }

    /// The program started again: a new client over the same cache folder and clock.
    fn restarted(&self, server: &Keysmith) -> Client {
        Self::client_of(server, self.cache.path(), self.fingerprint, &self.clock)
    }

    /// A client like this one's that may wait out a `Retry-After` of up to `wait`.
    fn patient(&self, server: &Keysmith, wait: StdDuration) -> Client {
        Client::builder(server.validation_url(), ENV)
            .cache_dir(self.cache.path())
            .fingerprint(self.fingerprint)
            .clock(self.clock.clone())
            .max_retry_wait(wait)
            .build()
            .unwrap()
    }

    fn client_of(
        server: &Keysmith,
        cache: &Path,
        fingerprint: &str,
        clock: &Arc<ManualClock>,
    ) -> Client {
        Client::builder(server.validation_url(), ENV)
            .cache_dir(cache)
            .fingerprint(fingerprint)
            .clock(clock.clone())
            .build()
            .unwrap()
    }
}

/// The claims of a `Valid` status (fails the test on any other).
fn valid(status: Result<Status, Error>, refreshed: bool) -> Claims {
    match status {
        Ok(Status::Valid {
            claims,
            refreshed: r,
        }) if r == refreshed => claims,
        other => panic!("expected Valid {{ refreshed: {refreshed} }}, got {other:?}"),
    }
}

fn invalid(code: &str) -> Status {
    Status::Invalid { code: code.into() }
}

#[test]
fn an_activated_client_checks_valid_from_its_cache_without_asking_again() {
    let server = shared();
    let (key, id) = server.license(2);
    let m = Install::new(&server, "sdk-valid");
    let claims = valid(m.client.activate(&key, Some("laptop"), Some("linux")), true);
    assert_eq!(claims.lid.to_string(), id);
    assert_eq!(claims.fp.as_deref(), Some("sdk-valid"));
    assert_eq!(claims.env, ENV);
    m.clock.advance(Duration::hours(1));
    assert_eq!(valid(m.client.check(), false), claims);
    let fresh = valid(m.client.validate(), true);
    assert!(fresh.iat >= claims.iat && fresh.nonce.is_some());
}

#[test]
fn with_the_server_stopped_the_client_runs_offline_until_the_lease_expires_then_is_invalid() {
    let mut server = Keysmith::started();
    let (m, _, _, claims) = Install::activated(&server, "sdk-offline");
    server.stop();
    let offline = Status::Offline {
        lease_valid_until: OffsetDateTime::from_unix_timestamp(claims.exp).unwrap(),
    };
    m.clock.advance(Duration::days(4));
    assert_eq!(m.client.check().unwrap(), offline);
    m.clock
        .set(OffsetDateTime::from_unix_timestamp(claims.exp - 60).unwrap());
    assert_eq!(m.client.check().unwrap(), offline);
    m.clock.advance(Duration::minutes(1));
    assert_eq!(m.client.check().unwrap(), invalid("LEASE_EXPIRED"));
}

#[test]
fn a_clock_moved_back_two_hours_answers_clock_tampered() {
    let server = shared();
    let (m, _, _, _) = Install::activated(&server, "sdk-clock");
    m.clock.advance(Duration::hours(-2));
    assert_eq!(m.client.check().unwrap(), Status::ClockTampered);
    assert_eq!(
        m.restarted(&server).check().unwrap(),
        Status::ClockTampered,
        "the latest time seen is in the cache"
    );
    m.clock.advance(Duration::hours(2));
    valid(m.client.check(), false);
}

#[test]
fn a_license_revoked_while_the_server_was_down_is_invalid_at_the_next_contact() {
    let mut server = Keysmith::started();
    let (m, _, id, _) = Install::activated(&server, "sdk-revoke");
    server.stop();
    m.clock.advance(Duration::days(4));
    assert!(matches!(m.client.check(), Ok(Status::Offline { .. })));
    server.launch();
    server.admin(&format!("/licenses/{id}/revoke"), json!({}));
    assert_eq!(m.client.check().unwrap(), invalid("REVOKED"));
    server.stop();
    assert!(
        matches!(m.client.check(), Err(Error::Unreachable { .. })),
        "the revoked license's lease is gone: no offline running"
    );
}

#[test]
fn after_the_signing_key_is_rotated_the_client_stays_valid_with_one_keys_refetch() {
    let mut server = Keysmith::started();
    let (m, _, _, before) = Install::activated(&server, "sdk-rotate");
    let keys_fetched = |server: &Keysmith| server.logged("/v1/{env}/keys", 200);
    assert_eq!(keys_fetched(&server), 1, "keys for the first lease");
    server.stop();
    server.cli(&["keys", "rotate", "--env", ENV]);
    server.launch();
    m.clock.advance(Duration::days(4));
    let after = valid(m.client.check(), true);
    assert_ne!(after.kid, before.kid, "signed by the new key");
    assert_eq!(keys_fetched(&server), 2, "one refetch");
    assert_eq!(valid(m.client.validate(), true).kid, after.kid);
    assert_eq!(keys_fetched(&server), 2, "the new key is cached");
    let cached = std::fs::read_to_string(m.client.cache_file()).unwrap();
    assert!(cached.contains(&before.kid) && cached.contains(&after.kid));
}

#[test]
fn a_truncated_garbage_or_forged_cache_is_treated_as_no_cache_and_never_panics() {
    let server = shared();
    let (m, key, _, genuine) = Install::activated(&server, "sdk-cache");
    let path = m.client.cache_file().to_owned();
    let good = std::fs::read_to_string(&path).unwrap();

    for bad in [
        good[..good.len() / 2].to_owned(),
        "\u{0}garbage{".to_owned(),
    ] {
        std::fs::write(&path, &bad).unwrap();
        let c = m.restarted(&server);
        assert_eq!(c.check().unwrap(), invalid("NOT_ACTIVATED"));
        let again = valid(c.activate(&key, None, None), true);
        assert_eq!(again.lid, genuine.lid, "ALREADY_ACTIVATED: the same slot");
    }

    // A lease signed by another Ed25519 key, and a genuine lease whose payload was edited: both
    // fresh, so honouring them would answer from the cache (refreshed: false).
    let mut file: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let token = file["lease"].as_str().unwrap().to_owned();
    let forger = license_core::SigningKey::from_seed([7; 32]).unwrap();
    let mut forged_claims = genuine.clone();
    forged_claims.kid = forger.kid().to_owned();
    forged_claims.exp = (OffsetDateTime::now_utc() + Duration::days(365)).unix_timestamp();
    let forged = forger.sign(&forged_claims).unwrap();
    let sig = token.rsplit_once('.').unwrap().1;
    let mut edited_claims = genuine.clone();
    edited_claims.ent.insert("seats".into(), json!(1000));
    let edited = format!(
        "v1.{}.{sig}",
        license_core::b64::encode(&serde_json::to_vec(&edited_claims).unwrap())
    );
    for lease in [forged, edited] {
        file["lease"] = json!(lease);
        std::fs::write(&path, file.to_string()).unwrap();
        let claims = valid(m.restarted(&server).check(), true);
        assert_eq!(
            claims.kid, genuine.kid,
            "a lease from the server replaced it"
        );
        assert!(!std::fs::read_to_string(&path).unwrap().contains(&lease));
    }
}

#[test]
fn a_429_retry_after_is_respected_and_no_request_goes_out_before_it_passes() {
    let mut server = Keysmith::new();
    server.rate_per_key = Some(2);
    server.launch();
    let (m, _, _, _) = Install::activated(&server, "sdk-429");
    valid(m.client.validate(), true);
    let limited = || server.logged("/v1/{env}/validate", 429);

    // Retry-After (30 s at 2 per minute) is longer than the client waits (10 s): no retry, and
    // the cached lease answers.
    assert!(matches!(m.client.validate(), Ok(Status::Offline { .. })));
    assert_eq!((limited(), m.clock.sleeps()), (1, 0));
    assert!(matches!(m.client.validate(), Ok(Status::Offline { .. })));
    assert_eq!(limited(), 1, "nothing sent while Retry-After runs");
    m.clock.advance(Duration::seconds(31));
    assert!(matches!(m.client.validate(), Ok(Status::Offline { .. })));
    assert_eq!(limited(), 2, "asked again once it had passed");

    // A client allowed to wait that long waits out each Retry-After before its retries.
    let patient = m.patient(&server, StdDuration::from_secs(60));
    assert!(matches!(patient.validate(), Ok(Status::Offline { .. })));
    assert_eq!(limited(), 5, "three attempts");
    assert_eq!(m.clock.sleeps(), 2);
    assert!(
        m.clock.slept() >= StdDuration::from_secs(40),
        "each pause honoured a Retry-After of about 30 s: {:?}",
        m.clock.slept()
    );
}

/// Two installations of a one-seat license: the first activated, the second refused with
/// `LIMIT_EXCEEDED`; and the key.
fn one_seat_two_machines(
    server: &Keysmith,
    [one, two]: [&'static str; 2],
) -> (Install, Install, String) {
    let (first, key, _, _) = Install::activated(server, one);
    let second = Install::new(server, two);
    assert_eq!(
        second.client.activate(&key, None, None).unwrap(),
        invalid("LIMIT_EXCEEDED")
    );
    (first, second, key)
}

#[test]
fn when_the_activation_limit_is_reached_another_machine_gets_limit_exceeded() {
    let server = shared();
    let (_, second, _) = one_seat_two_machines(&server, ["sdk-limit-1", "sdk-limit-2"]);
    assert_eq!(
        second.client.check().unwrap(),
        invalid("NOT_ACTIVATED"),
        "a refused activation leaves nothing behind"
    );
}

#[test]
fn deactivate_frees_the_slot_for_another_machine() {
    let server = shared();
    let (first, second, key) = one_seat_two_machines(&server, ["sdk-free-1", "sdk-free-2"]);
    first.client.deactivate().unwrap();
    assert_eq!(first.client.check().unwrap(), invalid("NOT_ACTIVATED"));
    valid(second.client.activate(&key, None, None), true);
    let cached = std::fs::read_to_string(first.client.cache_file()).unwrap();
    assert!(!cached.contains(&key), "the key is forgotten");
}
