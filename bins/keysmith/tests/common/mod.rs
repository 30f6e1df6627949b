//! What the binary's test suites (`e2e`, `instances`, `outage`, `console`) share: free ports, an
//! HTTP agent that treats every status as an answer, waiting for a service, the `keysmith` CLI,
//! and `keysmith serve` instances on a given database.
// Each suite uses some of these; the others are not dead code of the project.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A port nobody listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An agent for which every HTTP status is an answer, not an error (60 s at most per request).
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// Waits (30 s at most) until `url` answers at all.
pub fn wait_for(url: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while agent().get(url).call().is_err() {
        assert!(Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `keysmith <args>` on data folder `data` serving `environments`, with `stdin` on its
/// standard input (passwords are never arguments).
pub fn cli(data: &Path, environments: &str, args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_keysmith"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("KEYSMITH_DATA_DIR", data)
        .env("KEYSMITH_ENVIRONMENTS", environments)
        .env("KEYSMITH_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// The bootstrap admin token of every [`instance`].
pub const TOKEN: &str = "ks_instances_bootstrap_token_0123456789ab";

/// A `keysmith serve` process, killed when dropped.
pub struct Instance {
    pub child: Child,
    pub admin: String,
    pub validation: String,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `keysmith serve` for environment `production` on `db_url`, with the workers when
/// `worker`, and waits until it answers.
pub fn instance(data: &Path, db_url: &str, worker: bool) -> Instance {
    instance_with(data, db_url, worker, &[])
}

/// [`instance`] with more environment variables.
pub fn instance_with(data: &Path, db_url: &str, worker: bool, vars: &[(&str, &str)]) -> Instance {
    let (admin_port, validation_port) = (free_port(), free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_keysmith"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("KEYSMITH_DATA_DIR", data)
        .env("KEYSMITH_ENVIRONMENTS", "production")
        .env("KEYSMITH_DATABASE_URL_PRODUCTION", db_url)
        .env("KEYSMITH_ADMIN_ADDR", format!("127.0.0.1:{admin_port}"))
        .env(
            "KEYSMITH_VALIDATION_ADDR",
            format!("127.0.0.1:{validation_port}"),
        )
        .env("KEYSMITH_ADMIN_TOKEN", TOKEN)
        .env("KEYSMITH_WORKER", if worker { "on" } else { "off" })
        .env("KEYSMITH_LOG", "warn")
        .envs(vars.iter().copied())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let admin = format!("http://127.0.0.1:{admin_port}");
    wait_for(&format!("{admin}/healthz"), "keysmith");
    Instance {
        child,
        admin,
        validation: format!("http://127.0.0.1:{validation_port}"),
    }
}

impl Instance {
    /// An admin call that must succeed; its JSON answer.
    pub fn admin(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/v1/production{path}", self.admin);
        let auth = format!("Bearer {TOKEN}");
        let mut res = match (method, body) {
            ("GET", _) => agent().get(&url).header("authorization", &auth).call(),
            ("PUT", Some(b)) => agent()
                .put(&url)
                .header("authorization", &auth)
                .send_json(&b),
            ("PATCH", Some(b)) => agent()
                .patch(&url)
                .header("authorization", &auth)
                .send_json(&b),
            (_, Some(b)) => agent()
                .post(&url)
                .header("authorization", &auth)
                .send_json(&b),
            (_, None) => agent()
                .post(&url)
                .header("authorization", &auth)
                .send_empty(),
        }
        .unwrap();
        assert!(
            res.status().is_success(),
            "{method} {path}: {}",
            res.status()
        );
        res.body_mut().read_json().unwrap_or(Value::Null)
    }

    /// The `code` validate answers for `key` on `fingerprint`.
    pub fn validate(&self, key: &str, fingerprint: &str) -> String {
        let mut res = agent()
            .post(format!("{}/v1/production/validate", self.validation))
            .send_json(json!({"key": key, "fingerprint": fingerprint}))
            .unwrap();
        let v: Value = res.body_mut().read_json().unwrap();
        v["code"].as_str().unwrap_or_default().to_owned()
    }
}
