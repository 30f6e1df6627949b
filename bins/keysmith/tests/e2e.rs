//! End to end with the real `keysmith` binary: start it on an empty data folder, activate and
//! validate over HTTP, stop it with SIGTERM (clean exit), start it again, and check that a lease
//! issued before the restart still verifies against the keys published after it.
#![expect(clippy::unwrap_used, reason = "test: any failure fails the test")]

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use license_core::lease::{self, Expect};
use license_core::{MasterKey, PublicKey};
use license_store::Store;
use license_store::testkit::{Fixture, key_of};
use serde_json::{Value, json};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Server {
    child: Child,
    base: String,
}

fn start(data: &Path, port: u16, admin_port: u16) -> Server {
    let child = Command::new(env!("CARGO_BIN_EXE_keysmith"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("KEYSMITH_DATA_DIR", data)
        .env("KEYSMITH_ENVIRONMENTS", "production")
        .env("KEYSMITH_VALIDATION_ADDR", format!("127.0.0.1:{port}"))
        .env("KEYSMITH_ADMIN_ADDR", format!("127.0.0.1:{admin_port}"))
        .env("KEYSMITH_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while agent().get(format!("{base}/healthz")).call().is_err() {
        assert!(Instant::now() < deadline, "keysmith did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Server { child, base }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
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
