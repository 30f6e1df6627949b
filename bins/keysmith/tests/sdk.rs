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

use license_client::{Client, Error, ManualClock, Status};
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
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

impl Keysmith {
    fn new() -> Self {
        Self {
            data: tempfile::tempdir().unwrap(),
            port: free_port(),
            admin_port: free_port(),
            rate_per_key: None,
            child: None,
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
        while http().get(&health).call().is_err() {
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
        let mut res = http()
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

    /// Mints an assigned license with `limit` activations through the admin API; its key and
    /// its id.
    fn license(&self, limit: u32) -> (String, String) {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let product = self.admin(
            "/products",
            json!({"name": format!("SDK {n}"), "code": format!("SDK{n}")}),
        );
        let generator = self.admin(
            "/generators",
            json!({
                "product_id": product["id"], "name": "std",
                "format": {"kind": "chunked", "chunks": 4, "chunk_len": 4, "check": true},
            }),
        );
        let customer = self.admin(
            "/customers",
            json!({"name": format!("Customer {n}"), "email": format!("c{n}@example.com")}),
        );
        let license = self.admin(
            "/licenses",
            json!({
                "product_id": product["id"], "generator_id": generator["id"],
                "customer_id": customer["id"], "activation_limit": limit,
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

/// A client of `server` for instance `fingerprint`, caching under `cache`, on `clock`.
fn client(server: &Keysmith, cache: &Path, fingerprint: &str, clock: &Arc<ManualClock>) -> Client {
    Client::builder(server.validation_url(), ENV)
        .cache_dir(cache)
        .fingerprint(fingerprint)
        .clock(clock.clone())
        .build()
        .unwrap()
}

fn now_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(OffsetDateTime::now_utc()))
}

/// The claims of a `Valid` status (fails the test on any other).
fn valid(status: Result<Status, Error>, refreshed: bool) -> license_client::Claims {
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
    let cache = tempfile::tempdir().unwrap();
    let clock = now_clock();
    let c = client(&server, cache.path(), "sdk-valid", &clock);
    let claims = valid(c.activate(&key, Some("laptop"), Some("linux")), true);
    assert_eq!(claims.lid.to_string(), id);
    assert_eq!(claims.fp.as_deref(), Some("sdk-valid"));
    assert_eq!(claims.env, ENV);
    clock.advance(Duration::hours(1));
    assert_eq!(valid(c.check(), false), claims);
    let fresh = valid(c.validate(), true);
    assert!(fresh.iat >= claims.iat && fresh.nonce.is_some());
}

#[test]
fn with_the_server_stopped_the_client_runs_offline_until_the_lease_expires_then_is_invalid() {
    let mut server = Keysmith::started();
    let (key, _) = server.license(1);
    let cache = tempfile::tempdir().unwrap();
    let clock = now_clock();
    let c = client(&server, cache.path(), "sdk-offline", &clock);
    let claims = valid(c.activate(&key, None, None), true);
    server.stop();
    let exp = OffsetDateTime::from_unix_timestamp(claims.exp).unwrap();
    clock.advance(Duration::days(4));
    assert_eq!(
        c.check().unwrap(),
        Status::Offline {
            lease_valid_until: exp
        }
    );
    clock.set(exp - Duration::minutes(1));
    assert_eq!(
        c.check().unwrap(),
        Status::Offline {
            lease_valid_until: exp
        }
    );
    clock.set(exp);
    assert_eq!(c.check().unwrap(), invalid("LEASE_EXPIRED"));
}

#[test]
fn a_clock_moved_back_two_hours_answers_clock_tampered() {
    let server = shared();
    let (key, _) = server.license(1);
    let cache = tempfile::tempdir().unwrap();
    let clock = now_clock();
    let c = client(&server, cache.path(), "sdk-clock", &clock);
    valid(c.activate(&key, None, None), true);
    clock.advance(Duration::hours(-2));
    assert_eq!(c.check().unwrap(), Status::ClockTampered);
    let restarted = client(&server, cache.path(), "sdk-clock", &clock);
    assert_eq!(restarted.check().unwrap(), Status::ClockTampered);
    clock.advance(Duration::hours(2));
    valid(c.check(), false);
}

#[test]
fn a_license_revoked_while_the_server_was_down_is_invalid_at_the_next_contact() {
    let mut server = Keysmith::started();
    let (key, id) = server.license(1);
    let cache = tempfile::tempdir().unwrap();
    let clock = now_clock();
    let c = client(&server, cache.path(), "sdk-revoke", &clock);
    valid(c.activate(&key, None, None), true);
    server.stop();
    clock.advance(Duration::days(4));
    assert!(matches!(c.check(), Ok(Status::Offline { .. })));
    server.launch();
    server.admin(&format!("/licenses/{id}/revoke"), json!({}));
    assert_eq!(c.check().unwrap(), invalid("REVOKED"));
    server.stop();
    assert!(
        matches!(c.check(), Err(Error::Unreachable { .. })),
        "the revoked license's lease is gone: no offline running"
    );
}

#[test]
fn after_the_signing_key_is_rotated_the_client_stays_valid_with_one_keys_refetch() {
    let mut server = Keysmith::started();
    let (key, _) = server.license(1);
    let cache = tempfile::tempdir().unwrap();
    let clock = now_clock();
    let c = client(&server, cache.path(), "sdk-rotate", &clock);
    let before = valid(c.activate(&key, None, None), true);
    assert_eq!(
        server.logged("/v1/{env}/keys", 200),
        1,
        "keys for the first lease"
    );
    server.stop();
    server.cli(&["keys", "rotate", "--env", ENV]);
    server.launch();
    clock.advance(Duration::days(4));
    let after = valid(c.check(), true);
    assert_ne!(after.kid, before.kid, "signed by the new key");
    assert_eq!(server.logged("/v1/{env}/keys", 200), 2, "one refetch");
    let again = valid(c.validate(), true);
    assert_eq!(again.kid, after.kid);
    assert_eq!(
        server.logged("/v1/{env}/keys", 200),
        2,
        "the new key is cached: no further refetch"
    );
    let cached = std::fs::read_to_string(c.cache_file()).unwrap();
    assert!(cached.contains(&before.kid) && cached.contains(&after.kid));
}

#[test]
fn a_truncated_garbage_or_forged_cache_is_treated_as_no_cache_and_never_panics() {
    let server = shared();
    let (key, _) = server.license(1);
    let cache = tempfile::tempdir().unwrap();
    let clock = now_clock();
    let c = client(&server, cache.path(), "sdk-cache", &clock);
    let genuine = valid(c.activate(&key, None, None), true);
    let path = c.cache_file().to_owned();
    let good = std::fs::read_to_string(&path).unwrap();

    for bad in [
        good[..good.len() / 2].to_owned(),
        "\u{0}garbage{".to_owned(),
    ] {
        std::fs::write(&path, &bad).unwrap();
        let c = client(&server, cache.path(), "sdk-cache", &clock);
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
    let (_, payload_and_sig) = token.split_once('.').unwrap();
    let (_, sig) = payload_and_sig.split_once('.').unwrap();
    let mut edited_claims = genuine.clone();
    edited_claims.ent.insert("seats".into(), json!(1000));
    let edited = format!(
        "v1.{}.{sig}",
        license_core::b64::encode(&serde_json::to_vec(&edited_claims).unwrap())
    );
    for lease in [forged, edited] {
        file["lease"] = json!(lease);
        std::fs::write(&path, file.to_string()).unwrap();
        let c = client(&server, cache.path(), "sdk-cache", &clock);
        let claims = valid(c.check(), true);
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
    let (key, _) = server.license(1);
    let cache = tempfile::tempdir().unwrap();
    let clock = now_clock();
    let c = client(&server, cache.path(), "sdk-429", &clock);
    valid(c.activate(&key, None, None), true);
    valid(c.validate(), true);
    let validations = |status| server.logged("/v1/{env}/validate", status);

    // Retry-After (30 s at 2 per minute) is longer than the client waits (10 s): no retry, and
    // the cached lease answers.
    assert!(matches!(c.validate(), Ok(Status::Offline { .. })));
    assert_eq!((validations(429), clock.sleeps()), (1, 0));
    assert!(matches!(c.validate(), Ok(Status::Offline { .. })));
    assert_eq!(validations(429), 1, "nothing sent while Retry-After runs");
    clock.advance(Duration::seconds(31));
    assert!(matches!(c.validate(), Ok(Status::Offline { .. })));
    assert_eq!(validations(429), 2, "asked again once it had passed");

    // A client allowed to wait that long waits out each Retry-After before its retries.
    let patient = Client::builder(server.validation_url(), ENV)
        .cache_dir(cache.path())
        .fingerprint("sdk-429")
        .clock(clock.clone())
        .max_retry_wait(StdDuration::from_secs(60))
        .build()
        .unwrap();
    let before = clock.slept();
    assert!(matches!(patient.validate(), Ok(Status::Offline { .. })));
    assert_eq!(validations(429), 5, "three attempts");
    assert_eq!(clock.sleeps(), 2);
    assert!(
        clock.slept() - before >= StdDuration::from_secs(40),
        "each pause honoured a Retry-After of about 30 s: {:?}",
        clock.slept() - before
    );
}

#[test]
fn when_the_activation_limit_is_reached_another_machine_gets_limit_exceeded() {
    let server = shared();
    let (key, _) = server.license(1);
    let clock = now_clock();
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = client(&server, one.path(), "sdk-limit-1", &clock);
    valid(first.activate(&key, None, None), true);
    let second = client(&server, two.path(), "sdk-limit-2", &clock);
    assert_eq!(
        second.activate(&key, None, None).unwrap(),
        invalid("LIMIT_EXCEEDED")
    );
    assert_eq!(second.check().unwrap(), invalid("NOT_ACTIVATED"));
}

#[test]
fn deactivate_frees_the_slot_for_another_machine() {
    let server = shared();
    let (key, _) = server.license(1);
    let clock = now_clock();
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = client(&server, one.path(), "sdk-free-1", &clock);
    let second = client(&server, two.path(), "sdk-free-2", &clock);
    valid(first.activate(&key, None, None), true);
    assert_eq!(
        second.activate(&key, None, None).unwrap(),
        invalid("LIMIT_EXCEEDED")
    );
    first.deactivate().unwrap();
    assert_eq!(first.check().unwrap(), invalid("NOT_ACTIVATED"));
    valid(second.activate(&key, None, None), true);
    assert!(
        !std::fs::read_to_string(first.cache_file())
            .unwrap()
            .contains(&key)
    );
}
