//! End to end with the real `keysmith` binary: start it on an empty data folder, activate and
//! validate over HTTP, stop it with SIGTERM (clean exit), start it again, and check that a lease
//! issued before the restart still verifies against the keys published after it.
#![expect(clippy::unwrap_used, reason = "test: any failure fails the test")]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use license_core::lease::{self, Expect};
use license_core::{MasterKey, PublicKey};
use license_store::Store;
use license_store::testkit::{Fixture, key_of};
use serde_json::{Value, json};

mod common;
use common::{agent, free_port, wait_for};

struct Server {
    child: Child,
    base: String,
}

/// A test that fails before stopping its server does not leave it running (holding the test's
/// stderr open, which kept a piped `cargo test` from ever finishing).
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const ADMIN_TOKEN: &str = "ks_e2e_bootstrap_token_0123456789abcdef";

fn start(data: &Path, port: u16, admin_port: u16) -> Server {
    launch(data, port, admin_port, "warn", Stdio::inherit())
}

fn start_logging(data: &Path, port: u16, admin_port: u16, log: impl Into<Stdio>) -> Server {
    launch(data, port, admin_port, "info", log)
}

fn launch(data: &Path, port: u16, admin_port: u16, level: &str, log: impl Into<Stdio>) -> Server {
    let child = Command::new(env!("CARGO_BIN_EXE_keysmith"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("KEYSMITH_DATA_DIR", data)
        .env("KEYSMITH_ENVIRONMENTS", "production")
        .env("KEYSMITH_VALIDATION_ADDR", format!("127.0.0.1:{port}"))
        .env("KEYSMITH_ADMIN_ADDR", format!("127.0.0.1:{admin_port}"))
        .env("KEYSMITH_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("KEYSMITH_LOG", level)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    wait_for(&format!("{base}/healthz"), "keysmith");
    Server { child, base }
}

fn post(base: &str, path: &str, body: Value) -> (u16, Value) {
    let mut res = agent()
        .post(format!("{base}{path}"))
        .send_json(&body)
        .unwrap();
    (res.status().as_u16(), res.body_mut().read_json().unwrap())
}

fn published(base: &str) -> Vec<PublicKey> {
    let body: Value = agent()
        .get(format!("{base}/v1/production/keys"))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| PublicKey::from_b64(k["kid"].as_str().unwrap(), k["x"].as_str().unwrap()).unwrap())
        .collect()
}

fn stop(mut server: Server) {
    let pid = server.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            assert!(
                status.success(),
                "SIGTERM must end keysmith cleanly, got {status}"
            );
            return;
        }
        assert!(
            Instant::now() < deadline,
            "keysmith did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn activate_validate_restart_and_old_leases_still_verify() {
    let dir = tempfile::tempdir().unwrap();
    let (port, admin_port) = (free_port(), free_port());
    let server = start(dir.path(), port, admin_port);
    // Started without MALLOC_ARENA_MAX, the server runs itself again with it (same process).
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let environ = std::fs::read(format!("/proc/{}/environ", server.child.id())).unwrap();
        assert!(
            environ
                .split(|b| *b == 0)
                .any(|v| v == b"MALLOC_ARENA_MAX=2"),
            "{}",
            String::from_utf8_lossy(&environ)
        );
    }

    // Seed a license straight through the store, as the admin API would.
    let master =
        MasterKey::from_slice(&std::fs::read(dir.path().join("master.key")).unwrap()).unwrap();
    let url = format!("sqlite://{}", dir.path().join("production.db").display());
    let store = Store::open("production", &url, &master).unwrap();
    let lic = Fixture::new(&store).assigned(&store, 2);
    let key = key_of(&lic).to_owned();

    let (status, body) = post(
        &server.base,
        "/v1/production/activate",
        json!({"key": key, "fingerprint": "e2e-host"}),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (201, Some("ACTIVATED")),
        "{body}"
    );
    let (status, body) = post(
        &server.base,
        "/v1/production/validate",
        json!({"key": key, "fingerprint": "e2e-host", "nonce": "e2e"}),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (200, Some("VALID")),
        "{body}"
    );
    let old_lease = body["lease"].as_str().unwrap().to_owned();

    stop(server);
    let server = start(dir.path(), port, admin_port);
    let keys = published(&server.base);
    let expect = Expect {
        fingerprint: Some("e2e-host"),
        env: Some("production"),
    };
    let claims = lease::verify(&old_lease, &keys, time::OffsetDateTime::now_utc(), expect).unwrap();
    assert_eq!(
        (claims.lid, claims.nonce.as_deref()),
        (lic.license.license.id, Some("e2e"))
    );
    let (status, body) = post(
        &server.base,
        "/v1/production/validate",
        json!({"key": key, "fingerprint": "e2e-host"}),
    );
    assert_eq!((status, body["code"].as_str()), (200, Some("VALID")));
    stop(server);
}

fn admin_call(port: u16, method: &str, path: &str, body: Option<Value>) -> (u16, String) {
    let url = format!("http://127.0.0.1:{port}/v1/production{path}");
    let auth = format!("Bearer {ADMIN_TOKEN}");
    let mut res = match (method, body) {
        ("POST", Some(b)) => agent()
            .post(&url)
            .header("authorization", &auth)
            .send_json(&b)
            .unwrap(),
        ("GET", None) => agent()
            .get(&url)
            .header("authorization", &auth)
            .call()
            .unwrap(),
        other => panic!("{other:?}"),
    };
    (
        res.status().as_u16(),
        res.body_mut().read_to_string().unwrap(),
    )
}

fn admin_json(port: u16, method: &str, path: &str, body: Option<Value>) -> Value {
    let (status, text) = admin_call(port, method, path, body);
    assert!(status < 300, "{method} {path}: {status} {text}");
    serde_json::from_str(&text).unwrap()
}

fn kill_hard(mut server: Server) {
    server.child.kill().unwrap();
    server.child.wait().unwrap();
}

#[test]
fn a_mint_job_killed_mid_run_finishes_after_restart_and_keys_never_reach_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let (port, admin_port) = (free_port(), free_port());
    let log_path = dir.path().join("keysmith.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let server = start_logging(dir.path(), port, admin_port, log.try_clone().unwrap());

    let product = admin_json(
        admin_port,
        "POST",
        "/products",
        Some(json!({"name": "E2E", "code": "EE"})),
    );
    let generator = admin_json(
        admin_port,
        "POST",
        "/generators",
        Some(json!({
            "product_id": product["id"], "name": "bulk",
            "format": {"kind": "chunked", "chunks": 4, "chunk_len": 4, "check": true},
        })),
    );
    let customer = admin_json(
        admin_port,
        "POST",
        "/customers",
        Some(json!({"name": "Bulk Buyer", "email": "bulk@example.com"})),
    );
    let gen_path = format!("/generators/{}/generate", generator["id"].as_str().unwrap());
    let job = admin_json(
        admin_port,
        "POST",
        &gen_path,
        Some(json!({"count": 20_000, "customer_id": customer["id"]})),
    );
    let job_id = job["job"]["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let j = admin_json(admin_port, "GET", &format!("/jobs/{job_id}"), None);
        if j["done"].as_i64().unwrap() >= 1_500 {
            assert!(
                j["done"].as_i64().unwrap() < 20_000,
                "the job finished before it could be killed"
            );
            break;
        }
        assert!(Instant::now() < deadline, "the job made no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    kill_hard(server);

    let server = start_logging(dir.path(), port, admin_port, log);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let j = admin_json(admin_port, "GET", &format!("/jobs/{job_id}"), None);
        if j["status"] == "completed" {
            assert_eq!(j["done"], 20_000);
            break;
        }
        assert!(Instant::now() < deadline, "the job did not resume: {j}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, csv) = admin_call(admin_port, "GET", &format!("/jobs/{job_id}/keys.csv"), None);
    assert_eq!(status, 200);
    let rows: Vec<(i64, String)> = csv
        .lines()
        .skip(1)
        .map(|l| {
            let mut f = l.split(',');
            (
                f.next().unwrap().parse().unwrap(),
                f.nth(1).unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        rows.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        (0..20_000).collect::<Vec<_>>(),
        "no gap, no duplicate"
    );
    let distinct: std::collections::HashSet<&str> = rows.iter().map(|(_, k)| k.as_str()).collect();
    assert_eq!(distinct.len(), 20_000);

    let key = rows[7].1.clone();
    let (status, _) = post(
        &server.base,
        "/v1/production/activate",
        json!({"key": key, "fingerprint": "h"}),
    );
    assert_eq!(status, 201);
    let (status, _) = post(
        &server.base,
        "/v1/production/validate",
        json!({"key": key.to_lowercase(), "fingerprint": "h"}),
    );
    assert_eq!(status, 200);
    stop(server);
    let logged = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        logged.contains("mint job completed"),
        "the log is being written"
    );
    let last4 = &key[key.len() - 4..];
    assert!(
        logged.contains(&format!("····-{last4}")),
        "requests log the masked key"
    );
    let head = &key[..key.find('-').unwrap() + 5];
    assert!(
        !logged.contains(head),
        "no random character of a key's head reaches the log"
    );
    for (_, k) in &rows {
        assert!(!logged.contains(k.as_str()), "a full key reached the log");
    }
    assert!(
        !logged.contains(ADMIN_TOKEN),
        "the admin token reached the log"
    );
}

/// `keysmith` with `args`, the configuration of `launch` and `stdin` piped in.
fn cli(data: &Path, args: &[&str], stdin: &str) -> std::process::Output {
    common::cli(data, "production", args, stdin)
}

/// `POST` as JSON to the admin service; the status, the body and the session cookie it sets.
fn admin_post(
    port: u16,
    path: &str,
    body: Value,
    cookie: Option<&str>,
) -> (u16, Value, Option<String>) {
    let req = agent().post(format!("http://127.0.0.1:{port}{path}"));
    let req = match cookie {
        Some(c) => req.header("cookie", format!("keysmith_session={c}")),
        None => req,
    };
    let mut res = req.send_json(&body).unwrap();
    let set = res
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("keysmith_session="))
        .map(|v| v.split(';').next().unwrap_or_default().to_owned());
    let status = res.status().as_u16();
    (
        status,
        res.body_mut().read_json().unwrap_or(Value::Null),
        set,
    )
}

#[test]
fn the_first_admin_signs_up_from_the_logged_link_and_the_cli_adds_operators() {
    let dir = tempfile::tempdir().unwrap();
    let (port, admin_port) = (free_port(), free_port());
    let log_path = dir.path().join("keysmith.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let server = start_logging(dir.path(), port, admin_port, log.try_clone().unwrap());
    let text = std::fs::read_to_string(&log_path).unwrap();
    let marker = format!("http://127.0.0.1:{admin_port}/admin/setup#");
    let at = text
        .find(&marker)
        .expect("the setup link is logged while no operator exists");
    let token: String = text[at + marker.len()..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    assert_eq!(token.len(), 64);

    let password = "first admin's passphrase";
    let (status, body, cookie) = admin_post(
        admin_port,
        "/v1/auth/setup",
        json!({"token": token, "email": "ada@example.com", "name": "Ada", "password": password}),
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["operator"]["roles"]["production"], "admin");
    let cookie = cookie.expect("signed in");
    let mut me = agent()
        .get(format!("http://127.0.0.1:{admin_port}/v1/auth/me"))
        .header("cookie", format!("keysmith_session={cookie}"))
        .call()
        .unwrap();
    assert_eq!(me.status().as_u16(), 200);
    let me: Value = me.body_mut().read_json().unwrap();
    assert_eq!(me["operator"]["email"], "ada@example.com");
    stop(server);

    let out = cli(
        dir.path(),
        &[
            "operator",
            "create",
            "--email",
            "bo@example.com",
            "--role",
            "viewer",
        ],
        "bo's cli passphrase\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(
        dir.path(),
        &[
            "operator",
            "create",
            "--email",
            "cy@example.com",
            "--role",
            "admin",
        ],
        "short\n",
    );
    assert!(!out.status.success(), "password rules apply to the CLI too");
    let out = cli(dir.path(), &["operator", "list"], "");
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        listed.contains("ada@example.com")
            && listed.contains("bo@example.com\tbo@example.com\tproduction=viewer"),
        "{listed}"
    );

    let server = start_logging(dir.path(), port, admin_port, log);
    let (status, body, bo_cookie) = admin_post(
        admin_port,
        "/v1/auth/login",
        json!({"email": "bo@example.com", "password": "bo's cli passphrase"}),
        None,
    );
    assert_eq!(
        (status, body["environments"][0]["role"].as_str()),
        (200, Some("viewer")),
        "{body}"
    );
    let (status, _, _) = admin_post(
        admin_port,
        "/v1/auth/login",
        json!({"email": "bo@example.com", "password": "a wrong passphrase"}),
        None,
    );
    assert_eq!(status, 401);
    stop(server);
    let out = cli(
        dir.path(),
        &["operator", "disable", "--email", "ada@example.com"],
        "",
    );
    assert!(!out.status.success(), "the last admin cannot be disabled");
    assert!(String::from_utf8_lossy(&out.stderr).contains("without an admin"));

    let text = std::fs::read_to_string(&log_path).unwrap();
    assert_eq!(
        text.matches("/admin/setup#").count(),
        1,
        "no setup link once an operator exists"
    );
    for secret in [
        password,
        "bo's cli passphrase",
        "a wrong passphrase",
        cookie.as_str(),
        bo_cookie.unwrap().as_str(),
    ] {
        assert!(
            !text.contains(secret),
            "a password or session secret reached the log"
        );
    }
}

#[test]
fn a_bad_trusted_proxy_list_stops_start_up_naming_the_variable() {
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_keysmith"))
        .arg("serve")
        .env_clear()
        .env("KEYSMITH_DATA_DIR", data.path())
        .env("KEYSMITH_TRUSTED_PROXIES", "10.0.0.0/8, proxy.internal")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("KEYSMITH_TRUSTED_PROXIES: \"proxy.internal\" is not an IP address"),
        "{stderr}"
    );
}
