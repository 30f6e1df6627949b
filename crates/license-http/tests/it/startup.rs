//! What a start leaves on disk and what it serves besides the APIs (issue 17 §7): a private data
//! folder and private files, a master key others can read refused with the fix, the bootstrap
//! token installed on the first start only, and the metrics listener of `KEYSMITH_METRICS_ADDR`.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;

use actix_web::web;
use license_http::config::Config;
use license_http::startup;
use license_http::telemetry::Metrics;

use crate::support::block_on;

const TOKEN: &str = "ks_bootstrap_0123456789abcdef0123456789abcdef";

fn config(data: &Path, token: Option<&str>) -> Config {
    let mut vars: HashMap<&str, String> = HashMap::new();
    vars.insert("KEYSMITH_DATA_DIR", data.display().to_string());
    vars.insert("KEYSMITH_ENVIRONMENTS", "production".into());
    if let Some(t) = token {
        vars.insert("KEYSMITH_ADMIN_TOKEN", t.into());
    }
    Config::from_lookup(|k| vars.get(k).cloned()).unwrap()
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
#[test]
fn a_first_start_leaves_a_private_data_folder_and_private_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let c = config(&data, Some(TOKEN));
    let envs = startup::open_environments(&c).unwrap();
    let control = startup::open_control(&c).unwrap();
    assert_eq!(mode(&data), 0o700, "the data folder");
    let files: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    for name in ["master.key", "production.db", "control.db"] {
        assert!(
            files.iter().any(|f| f.ends_with(name)),
            "{name} in {files:?}"
        );
    }
    for f in &files {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    drop((envs, control));

    // A master key that group or others can read stops the next start, naming the fix.
    use std::os::unix::fs::PermissionsExt;
    let key = data.join("master.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = startup::open_environments(&c).unwrap_err();
    assert!(e.contains(&format!("chmod 600 {}", key.display())), "{e}");
}

#[test]
fn the_bootstrap_token_is_installed_on_the_first_start_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let envs = startup::open_environments(&config(&data, Some(TOKEN))).unwrap();
    let store = envs.get("production").unwrap().store().clone();
    let now = time::OffsetDateTime::now_utc();
    let boot = store
        .authenticate(TOKEN, now)
        .unwrap()
        .expect("installed on the first start");
    store
        .delete_token(&license_store::testkit::admin(), now, boot.id)
        .unwrap();
    drop((store, envs));
    // Restarts with the same secret and with a new one: no admin token comes back.
    for secret in [TOKEN, "ks_another_bootstrap_0123456789abcdef01234567"] {
        let envs = startup::open_environments(&config(&data, Some(secret))).unwrap();
        let store = envs.get("production").unwrap().store();
        assert!(
            store.authenticate(secret, now).unwrap().is_none(),
            "{secret}"
        );
        assert!(store.tokens().unwrap().is_empty());
    }
}

fn http_get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn the_metrics_listener_serves_metrics_and_nothing_of_the_apis() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    block_on(async move {
        let metrics = web::Data::new(Metrics::default());
        metrics.record("/v1/{env}/validate", "VALID", 0.002);
        let server =
            license_http::serve_metrics(metrics, format!("127.0.0.1:{port}").parse().unwrap())
                .unwrap();
        actix_web::rt::spawn(server);
        let (m, other) = web::block(move || {
            (
                http_get(port, "/metrics"),
                http_get(port, "/v1/production/keys"),
            )
        })
        .await
        .unwrap();
        assert!(m.starts_with("HTTP/1.1 200"), "{m}");
        assert!(
            m.contains("keysmith_requests_total{route=\"/v1/{env}/validate\",code=\"VALID\"} 1"),
            "{m}"
        );
        assert!(other.starts_with("HTTP/1.1 404"), "{other}");
    });
}
