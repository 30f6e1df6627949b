//! The Webhooks and Settings pages: an endpoint added in the browser receives a signed ping that
//! verifies with the secret shown once, a dead endpoint's delivery retries, and settings saved in
//! the browser are what the API reads back.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::*;

/// One request a [`Receiver`] got.
#[derive(Clone, Debug)]
pub(crate) struct Received {
    pub(crate) method: String,
    /// Header names in lower case.
    pub(crate) headers: HashMap<String, String>,
    pub(crate) body: String,
}

/// A webhook receiver on loopback: records every request and answers 200.
pub(crate) struct Receiver {
    pub(crate) url: String,
    seen: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    pub(crate) fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/keysmith-hook", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let method = line.split(' ').next().unwrap_or_default().to_owned();
                let mut headers = HashMap::new();
                loop {
                    let mut l = String::new();
                    if reader.read_line(&mut l).unwrap_or(0) == 0 || l.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = l.split_once(':') {
                        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
                    }
                }
                let len = headers
                    .get("content-length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0; len];
                if reader.read_exact(&mut body).is_err() {
                    continue;
                }
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
                record.lock().unwrap().push(Received {
                    method,
                    headers,
                    body: String::from_utf8(body).unwrap(),
                });
            }
        });
        Receiver { url, seen }
    }

    /// Waits (30 s at most) for a request whose JSON body has `"type": event_type`.
    pub(crate) fn wait_for(&self, event_type: &str) -> Received {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let found = self
                .seen
                .lock()
                .unwrap()
                .iter()
                .find(|r| {
                    serde_json::from_str::<Value>(&r.body).is_ok_and(|b| b["type"] == event_type)
                })
                .cloned();
            if let Some(r) = found {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "the receiver got no {event_type}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// `Keysmith-Signature: t=<unix>,v1=<hex>` is HMAC-SHA256 with `secret` over `t.body`, and `t`
/// is recent. Checked with `ring` here, independently of the server's code.
fn signature_verifies(secret: &str, header: &str, body: &str) -> bool {
    let Some((t, v1)) = header
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(",v1="))
    else {
        return false;
    };
    let Ok(t_secs) = t.parse::<i64>() else {
        return false;
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let tag: Option<Vec<u8>> = (0..v1.len())
        .step_by(2)
        .map(|i| {
            v1.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect();
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    (now - t_secs).abs() < 300
        && tag.is_some_and(|tag| {
            ring::hmac::verify(&key, format!("{t}.{body}").as_bytes(), &tag).is_ok()
        })
}

/// An endpoint added in the browser, its signing secret and the receiver behind it.
pub(crate) struct PingedEndpoint {
    pub(crate) id: String,
    pub(crate) secret: String,
    pub(crate) receiver: Receiver,
}

/// Adds a webhook endpoint in the browser (signed in as an admin) to a fresh [`Receiver`], for
/// `license.revoked` and `license.expiring_soon`; reads the secret shown once; sends a ping and
/// returns once the receiver got it with a valid signature and the page shows it delivered.
pub(crate) fn ping_through_a_new_endpoint(b: &Browser, server: &Server) -> PingedEndpoint {
    let receiver = Receiver::start();
    b.open(&format!("{}/admin/webhooks", server.admin));
    b.find("heading", "Webhooks");
    b.click("button", "Add endpoint");
    b.find("heading", "Add webhook endpoint");
    b.type_into("textbox", "Endpoint URL", &receiver.url);
    b.click("checkbox", "license.revoked");
    b.click("checkbox", "license.expiring_soon");
    b.click("button", "Create endpoint");
    b.find("heading", "Webhook endpoint created");
    assert!(b.text().contains("Keysmith-Signature: t=<unix>,v1=<hex>"));
    let out = b.find("status", "Signing secret");
    let secret = b
        .js("return arguments[0].textContent", json!([out]))
        .as_str()
        .unwrap()
        .to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    b.assert_accessible("webhook secret");
    b.screenshots("webhook-secret");
    b.click("button", "Done");
    b.find("heading", &format!("Deliveries to {}", receiver.url));
    let id = b.url().split("endpoint=").nth(1).unwrap().to_owned();
    assert_eq!(
        b.js(
            "return document.body.innerText.includes(arguments[0])",
            json!([secret])
        ),
        json!(false),
        "the secret is gone once the dialog closes"
    );

    b.click("button", "Send ping");
    let ping = receiver.wait_for("webhook.ping");
    assert_eq!(ping.method, "POST");
    let sig = &ping.headers["keysmith-signature"];
    assert!(
        signature_verifies(&secret, sig, &ping.body),
        "the ping's signature {sig} does not verify with the secret shown"
    );
    assert!(!signature_verifies("whsec_wrong", sig, &ping.body));
    b.until(
        "the ping shown as delivered",
        "const r = document.querySelector('[aria-label=\"Deliveries\"] tbody tr'); return r && r.innerText.includes('delivered') && r.innerText.includes('HTTP 200');",
        json!([]),
    );
    PingedEndpoint {
        id,
        secret,
        receiver,
    }
}

/// The first deliveries row's cells, as text.
fn first_delivery(b: &Browser) -> Vec<String> {
    let v = b.js("const r = document.querySelector('[aria-label=\"Deliveries\"] tbody tr'); return r ? [...r.cells].map(c => c.innerText.trim()) : [];", json!([]));
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_webhook_added_in_the_browser_gets_a_signed_ping_and_a_dead_one_is_retried() {
    let Some(b) = Browser::start() else { return };
    let server = Server::start();
    sign_in(&b, &server, "admin@example.com");
    b.click("link", "Webhooks");
    b.find("heading", "Webhooks");
    assert!(b.text().contains("No webhook endpoints yet."));

    let hook = ping_through_a_new_endpoint(&b, &server);
    let url = hook.receiver.url.clone();
    let api = server.api("GET", &format!("/webhooks/{}", hook.id), None);
    assert_eq!(
        api["events"],
        json!(["license.expiring_soon", "license.revoked"])
    );
    assert!(
        !server
            .api("GET", "/webhooks", None)
            .to_string()
            .contains(&hook.secret),
        "the secret is shown once, never listed"
    );
    b.assert_accessible("webhook deliveries");
    b.screenshots("webhook-deliveries");

    // An invalid URL: the API's error shows next to the field.
    b.click("link", "Close deliveries");
    b.find("link", &format!("Deliveries for {url}"));
    assert!(!b.url().contains("endpoint="), "{}", b.url());
    b.assert_accessible("webhooks");
    b.screenshots("webhooks");
    b.click("button", "Add endpoint");
    b.type_into("textbox", "Endpoint URL", "ftp://hooks.example.com");
    b.click("checkbox", "license.created");
    b.click("button", "Create endpoint");
    assert!(
        b.field_error("Endpoint URL")
            .contains("must be an http:// or https:// URL")
    );
    b.assert_accessible("add endpoint dialog");
    b.screenshots("webhook-add-error");

    // A dead endpoint (nothing listens): its ping is tried, fails and waits for a retry.
    let dead = format!("http://127.0.0.1:{}/gone", free_port());
    b.type_into("textbox", "Endpoint URL", &dead);
    b.click("checkbox", "Every event, including types added later");
    b.click("button", "Create endpoint");
    b.find("heading", "Webhook endpoint created");
    b.click("button", "Done");
    b.find("heading", &format!("Deliveries to {dead}"));
    let dead_id = b.url().split("endpoint=").nth(1).unwrap().to_owned();
    assert_eq!(
        server.api("GET", &format!("/webhooks/{dead_id}"), None)["events"],
        json!(["*"])
    );
    b.click("button", "Send ping");
    b.until("the ping retrying", "const r = document.querySelector('[aria-label=\"Deliveries\"] tbody tr'); return r && r.innerText.includes('retrying');", json!([]));
    let row = first_delivery(&b);
    assert_eq!(row[2], "1", "one attempt: {row:?}");
    assert!(
        row[3] != "—" && !row[3].contains("HTTP 2"),
        "the response cell shows the error: {row:?}"
    );
    let d = &server.api("GET", &format!("/webhooks/{dead_id}/deliveries"), None)["items"][0];
    assert_eq!(
        (d["status"].as_str(), d["attempts"].as_i64()),
        (Some("pending"), Some(1))
    );
    assert!(d["last_error"].is_string(), "{d}");
    b.assert_accessible("failing deliveries");
    b.screenshots("webhook-deliveries-failing");
    let event = d["event_id"].as_str().unwrap();
    b.click(
        "button",
        &format!("Retry delivery of event …{}", &event[event.len() - 8..]),
    );
    b.toast("queued again");
    b.until("the second attempt", "const r = document.querySelector('[aria-label=\"Deliveries\"] tbody tr'); return r && r.cells[2].innerText.trim() === '2';", json!([]));
    let d = &server.api("GET", &format!("/webhooks/{dead_id}/deliveries"), None)["items"][0];
    assert_eq!(d["attempts"].as_i64(), Some(2), "Retry sent it again: {d}");

    // Edit the live endpoint: disable it and add an event type.
    b.click("link", "Close deliveries");
    b.click("button", &format!("Actions for {url}"));
    b.click("menuitem", "Edit");
    b.find("heading", "Edit webhook endpoint");
    b.click("checkbox", "Enabled: deliver events to this endpoint");
    b.click("checkbox", "license.created");
    b.click("button", "Save");
    b.toast("saved");
    let edited = server.api("GET", &format!("/webhooks/{}", hook.id), None);
    assert_eq!(edited["enabled"], false);
    assert_eq!(
        edited["events"],
        json!([
            "license.created",
            "license.expiring_soon",
            "license.revoked"
        ])
    );

    // Delete the dead one, behind a confirmation.
    b.click("button", &format!("Actions for {dead}"));
    b.click("menuitem", "Delete");
    b.find("heading", "Delete this webhook endpoint?");
    b.click("button", "Delete endpoint");
    b.toast("deleted");
    let list = server.api("GET", "/webhooks", None);
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(list["items"][0]["id"], hook.id.as_str());
}

#[test]
fn settings_saved_in_the_browser_are_what_the_api_reads_and_a_viewer_only_reads_them() {
    let Some(b) = Browser::start() else { return };
    let server = Server::start();
    sign_in(&b, &server, "admin@example.com");
    b.click("link", "Settings");
    b.find("heading", "Settings");
    assert!(
        b.text().contains("30, 14 and 7 days"),
        "the reminders are explained"
    );
    b.assert_accessible("settings");
    b.screenshots("settings");

    b.type_into("textbox", "Grace period (days)", "7");
    b.type_into("textbox", "Refused devices: at most", "3");
    b.type_into("textbox", "Refused devices: window (minutes)", "10");
    b.type_into("textbox", "Client IPs per hour: at most", "5");
    b.type_into("textbox", "Device churn: at most", "12");
    b.type_into("textbox", "Device churn: window (minutes)", "30");
    b.click("button", "Save settings");
    b.toast("Settings saved");
    let s = server.api("GET", "/settings", None);
    assert_eq!(s["grace_period_days"], 7, "{s}");
    assert_eq!(
        s["abuse"],
        json!({"max_refused_fingerprints": 3, "refused_window_minutes": 10, "max_ips_per_hour": 5, "max_churn": 12, "churn_window_minutes": 30})
    );

    // Invalid values: each error next to the field the API names; nothing is saved.
    b.type_into("textbox", "Grace period (days)", "31");
    b.click("button", "Save settings");
    let err = b.field_error("Grace period (days)");
    assert!(err.contains("0..=30"), "{err}");
    b.assert_accessible("settings with an error");
    b.screenshots("settings-error");
    b.type_into("textbox", "Grace period (days)", "14");
    b.type_into("textbox", "Client IPs per hour: at most", "-1");
    b.click("button", "Save settings");
    let err = b.field_error("Client IPs per hour: at most");
    assert!(err.contains("max_ips_per_hour"), "{err}");
    assert_eq!(server.api("GET", "/settings", None)["grace_period_days"], 7);

    // A blank limit turns its rule off.
    b.type_into("textbox", "Client IPs per hour: at most", "");
    b.click("button", "Save settings");
    b.toast("Settings saved");
    let s = server.api("GET", "/settings", None);
    assert_eq!(
        (&s["grace_period_days"], &s["abuse"]["max_ips_per_hour"]),
        (&json!(14), &Value::Null)
    );

    // A viewer reads the values and gets no Save; the webhooks are admins' business.
    b.click("button", "Sign out");
    sign_in(&b, &server, "viewer@example.com");
    b.click("link", "Settings");
    b.find("heading", "Settings");
    let grace = b.find("textbox", "Grace period (days)");
    assert_eq!(
        b.js(
            "return [arguments[0].value, arguments[0].matches(':disabled')]",
            json!([grace])
        ),
        json!(["14", true])
    );
    assert!(!b.exists("button", "Save settings"));
    b.assert_accessible("settings read-only");
    b.screenshots("settings-viewer");
    b.click("link", "Webhooks");
    b.find("heading", "Webhooks");
    assert!(b.text().contains("Only the admins"));
    assert!(!b.exists("button", "Add endpoint"));
}
