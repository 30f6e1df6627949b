//! Email end to end with the real `keysmith` binary and a real SMTP server (the test sink): mail
//! queued while the relay is down arrives once after it is back, across a hard kill and a
//! restart; an expiring-soon reminder goes once per window, however often the server restarts.
#![expect(clippy::unwrap_used, reason = "test: any failure fails the test")]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use license_http::smtp_sink::{Received, SmtpSink};
use serde_json::json;

mod common;
use common::{Instance, instance_with};

/// `keysmith serve` on `data` (SQLite) sending mail through the relay on `smtp_port`.
fn start(data: &Path, smtp_port: u16) -> Instance {
    let db = format!("sqlite://{}", data.join("production.db").display());
    let relay = format!("smtp://127.0.0.1:{smtp_port}?tls=none");
    instance_with(
        data,
        &db,
        true,
        &[
            ("KEYSMITH_SMTP_URL", relay.as_str()),
            (
                "KEYSMITH_MAIL_FROM",
                "Acme Licensing <licenses@acme.example>",
            ),
        ],
    )
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn subjects(mails: &[Received]) -> Vec<String> {
    let mut s: Vec<String> = mails.iter().map(Received::subject).collect();
    s.sort();
    s
}

#[test]
fn mail_waits_out_an_smtp_outage_and_a_restart_and_reminders_go_once_per_window() {
    let data = tempfile::tempdir().unwrap();
    // The relay is down: its port is closed.
    let smtp_port = SmtpSink::start().stop_and_port();
    let server = start(data.path(), smtp_port);

    let mut settings = server.admin("GET", "/settings", None);
    settings["email_key_on_assign"] = json!(true);
    server.admin("PUT", "/settings", Some(settings));
    let product = server.admin(
        "POST",
        "/products",
        Some(json!({"name": "Acme Pro", "code": "ACMEPRO"})),
    );
    let generator = server.admin(
        "POST",
        "/generators",
        Some(json!({"product_id": product["id"], "name": "default", "format": {"kind": "chunked", "chunks": 4, "chunk_len": 4, "check": true}})),
    );
    let customer = server.admin(
        "POST",
        "/customers",
        Some(json!({"name": "Grace Hopper", "email": "grace@example.com"})),
    );
    let in_ten_days = (time::OffsetDateTime::now_utc() + time::Duration::days(10))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let mut keys = Vec::new();
    for expires in [None, Some(in_ten_days)] {
        let mut body = json!({"product_id": product["id"], "generator_id": generator["id"]});
        if let Some(e) = expires {
            body["expires_at"] = json!(e);
        }
        let l = server.admin("POST", "/licenses", Some(body));
        keys.push(l["key"].as_str().unwrap().to_owned());
        let id = l["id"].as_str().unwrap();
        server.admin(
            "POST",
            &format!("/licenses/{id}/assign"),
            Some(json!({"customer_id": customer["id"]})),
        );
    }

    // Both key mails are tried and fail with the relay down; the operator sees why.
    let mail_path = format!("/customers/{}/mail", customer["id"].as_str().unwrap());
    wait_until("a failed attempt", Duration::from_secs(15), || {
        let list = server.admin("GET", &mail_path, None);
        list["total"] == 2
            && list["items"].as_array().unwrap().iter().all(|m| {
                m["status"] == "pending"
                    && m["attempts"].as_i64() >= Some(1)
                    && m["last_error"] == "connect"
            })
    });

    // A hard kill while they wait, the relay back, a restart: each arrives, once.
    drop(server);
    let sink = SmtpSink::restart(smtp_port, Vec::new());
    let server = start(data.path(), smtp_port);
    // The two key mails and, from the restart's first lifecycle pass, the 14-day reminder.
    let mails = sink.wait_for(3, Duration::from_secs(45));
    assert_eq!(mails.len(), 3, "{:?}", subjects(&mails));
    std::thread::sleep(Duration::from_secs(3));
    let mails = sink.messages();
    assert_eq!(
        subjects(&mails),
        [
            "Your Acme Pro license expires in 10 days",
            "Your Acme Pro license key",
            "Your Acme Pro license key",
        ],
        "each mail exactly once"
    );
    for key in &keys {
        let holding: Vec<&Received> = mails.iter().filter(|m| m.text().contains(key)).collect();
        assert_eq!(holding.len(), 1, "one mail holds key {key}");
        assert_eq!(holding[0].to, ["grace@example.com"]);
        assert_eq!(holding[0].from, "licenses@acme.example");
    }
    let list = server.admin("GET", &mail_path, None);
    assert_eq!(list["total"], 3);
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["status"] == "sent")
    );

    // Another restart runs the lifecycle pass again: the reminder of that window is not sent
    // twice.
    drop(server);
    let server = start(data.path(), smtp_port);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(sink.messages().len(), 3, "{:?}", subjects(&sink.messages()));
    assert_eq!(server.admin("GET", &mail_path, None)["total"], 3);
}

#[test]
fn a_bad_smtp_url_stops_start_up_naming_the_variable_and_mail_test_sends_one() {
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_keysmith"))
        .arg("serve")
        .env_clear()
        .env("KEYSMITH_DATA_DIR", data.path())
        .env("KEYSMITH_SMTP_URL", "mail.example.com:587")
        .env("KEYSMITH_MAIL_FROM", "licenses@acme.example")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("KEYSMITH_SMTP_URL"), "{err}");

    let sink = SmtpSink::start();
    let out = Command::new(env!("CARGO_BIN_EXE_keysmith"))
        .args(["mail", "test", "--to", "ops@example.com"])
        .env_clear()
        .env("KEYSMITH_DATA_DIR", data.path())
        .env("KEYSMITH_SMTP_URL", sink.url())
        .env("KEYSMITH_MAIL_FROM", "licenses@acme.example")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mails = sink.wait_for(1, Duration::from_secs(5));
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, ["ops@example.com"]);
    assert_eq!(mails[0].subject(), "Keysmith test email");
}
