//! Where webhooks may go and how one endpoint's trouble stays its own (issue 17 §3): private
//! addresses refused at creation and at connect (names resolved, every address checked), no
//! redirects, failures stored as a class, HTTPS through rustls with a test CA, a hanging endpoint
//! that does not delay a healthy one, claims renewed so a slow endpoint is never sent a delivery
//! twice, the per-endpoint breaker, and audit entries that hold the host only. Every receiver
//! listens on loopback; no packet leaves the machine.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use actix_web::http::StatusCode;
use license_http::egress::WebhookPolicy;
use license_http::environments::{Environment, Environments};
use license_http::workers::webhook_delivery::{self, Deliverer, Options};
use license_store::both_backends;
use license_store::testkit::*;
use license_store::tokens::Role;
use license_store::{Page, Store};
use serde_json::json;
use time::{Duration, OffsetDateTime};

use crate::receiver::receiver;
use crate::support::*;

/// What a raw loopback receiver saw.
#[derive(Debug, Default)]
struct Raw {
    calls: AtomicUsize,
    open: AtomicUsize,
    most_open_at_once: AtomicUsize,
    /// `Keysmith-Event-Id` of every request, in order.
    event_ids: Mutex<Vec<String>>,
}

/// Reads one HTTP request (head and `content-length` body); returns its event id header.
fn read_request(stream: &mut impl Read) -> Option<String> {
    let mut r = BufReader::new(stream);
    let (mut len, mut id) = (0usize, String::new());
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            match k.trim().to_ascii_lowercase().as_str() {
                "content-length" => len = v.trim().parse().unwrap_or(0),
                "keysmith-event-id" => id = v.trim().to_owned(),
                _ => {}
            }
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some(id)
}

/// A plain-TCP HTTP receiver on loopback: every request waits `delay`, then gets `answer` (a
/// whole HTTP response head and body).
fn raw_receiver(delay: std::time::Duration, answer: &'static str) -> (String, Arc<Raw>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let raw = Arc::new(Raw::default());
    let seen = raw.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let seen = seen.clone();
            std::thread::spawn(move || {
                let now_open = seen.open.fetch_add(1, Ordering::SeqCst) + 1;
                seen.most_open_at_once.fetch_max(now_open, Ordering::SeqCst);
                if let Some(id) = read_request(&mut stream) {
                    seen.calls.fetch_add(1, Ordering::SeqCst);
                    seen.event_ids.lock().unwrap().push(id);
                    std::thread::sleep(delay);
                    let _ = stream.write_all(answer.as_bytes());
                }
                seen.open.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    (url, raw)
}

const OK: &str = "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

fn hook(db: &Store, url: &str, events: &[&str]) -> (license_store::webhooks::Webhook, String) {
    db.create_webhook(
        &admin(),
        now(),
        url,
        events.iter().map(|e| (*e).to_owned()).collect(),
    )
    .unwrap()
}

fn deliveries(db: &Store, hook: uuid::Uuid) -> Vec<license_store::webhooks::Delivery> {
    db.webhook_deliveries(hook, Page::new(500, 0).unwrap())
        .unwrap()
        .0
}

#[test]
fn a_webhook_url_on_a_private_address_is_refused_with_422_naming_url() {
    let db = TestDb::sqlite();
    block_on(async {
        let app = TestApp::new(&[&db])
            .with_token()
            .with_webhook_policy(WebhookPolicy::public_only());
        for url in [
            "http://127.0.0.1:9000/hook",
            "http://localhost/hook",
            "http://[::1]/hook",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.1.2.3/",
            "http://100.64.0.1/",
            "http://[::ffff:192.168.1.10]/",
        ] {
            let r = app
                .req(
                    "POST",
                    "/webhooks",
                    Some(json!({"url": url, "events": ["*"]})),
                )
                .await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {r:?}");
            assert!(r.text().contains("url"), "{url}: {}", r.text());
        }
        let ok = app
            .req(
                "POST",
                "/webhooks",
                Some(json!({"url": "https://hooks.example.com/k", "events": ["*"]})),
            )
            .await;
        assert_eq!(ok.status, StatusCode::CREATED);
        let id = ok.body["id"].as_str().unwrap();
        let moved = app
            .req(
                "PATCH",
                &format!("/webhooks/{id}"),
                Some(json!({"url": "http://127.0.0.1/"})),
            )
            .await;
        assert_eq!(moved.status, StatusCode::UNPROCESSABLE_ENTITY);
    });
}

both_backends! {
    fn deliveries_to_names_or_addresses_that_resolve_privately_are_blocked_at_connect(db) {
        // Stored straight in the database (as a URL accepted earlier, or a name whose DNS
        // answer changed since): the check that counts is on the address connected to.
        let (url, seen) = receiver();
        let port = url.trim_start_matches("http://127.0.0.1:").trim_end_matches("/hook");
        let by_name = format!("http://localhost:{port}/hook");
        let (h1, _) = hook(db, &url, &["license.created"]);
        let (h2, _) = hook(db, &by_name, &["license.created"]);
        Fixture::new(db).available(db);
        let worker = Deliverer::new(&WebhookPolicy::public_only(), Options::default());
        let env = Environment::new("test", db.store.clone());
        assert_eq!(worker.pass(&env, OffsetDateTime::now_utc), 2);
        assert!(seen.lock().unwrap().attempts.is_empty(), "nothing reached the receiver");
        for h in [h1.id, h2.id] {
            let d = deliveries(db, h);
            assert_eq!(d[0].status, "pending");
            assert_eq!(d[0].last_error.as_deref(), Some("blocked"));
            assert_eq!(d[0].last_status_code, None);
        }
    }
}

both_backends! {
    fn redirects_are_not_followed_and_failures_are_stored_as_a_class(db) {
        let (target, target_seen) = raw_receiver(std::time::Duration::ZERO, OK);
        let redirect: &'static str = Box::leak(
            format!("HTTP/1.1 307 Temporary Redirect\r\nlocation: {target}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .into_boxed_str(),
        );
        let (redirector, _) = raw_receiver(std::time::Duration::ZERO, redirect);
        let (leaky, _) = raw_receiver(
            std::time::Duration::ZERO,
            "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 38\r\nconnection: close\r\n\r\npassword=hunter2 at /srv/app/secret.rb",
        );
        let closed = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}/hook", l.local_addr().unwrap())
        };
        let (r, _) = hook(db, &redirector, &["license.created"]);
        let (l, _) = hook(db, &leaky, &["license.created"]);
        let (c, _) = hook(db, &closed, &["license.created"]);
        Fixture::new(db).available(db);
        let worker = Deliverer::new(&WebhookPolicy::allow_private(), Options::default());
        worker.pass(&Environment::new("test", db.store.clone()), OffsetDateTime::now_utc);
        assert_eq!(target_seen.calls.load(Ordering::SeqCst), 0, "the redirect was not followed");
        let d = &deliveries(db, r.id)[0];
        assert_eq!((d.status.as_str(), d.last_status_code, d.last_error.as_deref()), ("pending", Some(307), Some("http_status")));
        let d = &deliveries(db, l.id)[0];
        assert_eq!((d.last_status_code, d.last_error.as_deref()), (Some(500), Some("http_status")));
        let d = &deliveries(db, c.id)[0];
        assert_eq!((d.last_status_code, d.last_error.as_deref()), (None, Some("connect")));
        let json = serde_json::to_string(&deliveries(db, l.id)).unwrap();
        assert!(!json.contains("hunter2"), "no response body is stored");
    }
}

/// A test CA, and a server certificate it signed for `localhost` and 127.0.0.1.
struct TestPki {
    ca_pem: String,
    server: rustls::ServerConfig,
}

fn test_pki() -> TestPki {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, SanType};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params
        .subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    let cert = params.signed_by(&key, &ca).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    TestPki {
        ca_pem: ca.pem(),
        server,
    }
}

/// An HTTPS receiver on loopback answering 200 to every request that completes a handshake.
fn tls_receiver(config: rustls::ServerConfig) -> (String, Arc<Raw>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "https://localhost:{}/hook",
        listener.local_addr().unwrap().port()
    );
    let raw = Arc::new(Raw::default());
    let seen = raw.clone();
    let config = Arc::new(config);
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { continue };
            let Ok(conn) = rustls::ServerConnection::new(config.clone()) else {
                continue;
            };
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            if let Some(id) = read_request(&mut tls) {
                seen.calls.fetch_add(1, Ordering::SeqCst);
                seen.event_ids.lock().unwrap().push(id);
                let _ = tls.write_all(OK.as_bytes());
                let _ = tls.flush();
                tls.conn.send_close_notify();
                let _ = tls.conn.complete_io(&mut tls.sock);
            }
        }
    });
    (url, raw)
}

both_backends! {
    fn https_endpoints_are_delivered_with_rustls_and_checked_against_the_trusted_roots(db) {
        let pki = test_pki();
        let (url, seen) = tls_receiver(pki.server.clone());
        let (h, _) = hook(db, &url, &["license.created"]);
        Fixture::new(db).available(db);
        let env = Environment::new("test", db.store.clone());
        // The public webpki roots do not know the test CA: a TLS failure, nothing sent.
        let public_roots = Deliverer::new(&WebhookPolicy::allow_private(), Options::default());
        public_roots.pass(&env, OffsetDateTime::now_utc);
        let d = &deliveries(db, h.id)[0];
        assert_eq!((d.status.as_str(), d.last_error.as_deref()), ("pending", Some("tls")));
        assert_eq!(seen.calls.load(Ordering::SeqCst), 0);
        // Trusting the test CA (KEYSMITH_WEBHOOK_CA_FILE): delivered over TLS.
        let policy = WebhookPolicy::allow_private().with_ca_pem(pki.ca_pem.as_bytes()).unwrap();
        let trusting = Deliverer::new(&policy, Options::default());
        trusting.pass(&env, || OffsetDateTime::now_utc() + Duration::minutes(5));
        let d = &deliveries(db, h.id)[0];
        assert_eq!((d.status.as_str(), d.last_status_code), ("delivered", Some(200)), "{d:?}");
        assert_eq!(seen.calls.load(Ordering::SeqCst), 1);
    }
}

both_backends! {
    fn a_hanging_endpoint_does_not_delay_a_healthy_one(db) {
        let (slow_url, hanging) = raw_receiver(std::time::Duration::from_secs(10), OK);
        let (ok_url, healthy) = receiver();
        hook(db, &slow_url, &["license.created"]);
        let (_, secret) = hook(db, &ok_url, &["license.created"]);
        healthy.lock().unwrap().secret = secret;
        let envs = Environments::from_stores([db.store.clone()]);
        let worker = webhook_delivery::spawn(
            envs,
            Arc::new(Deliverer::new(&WebhookPolicy::allow_private(), Options::default())),
        );
        let f = Fixture::new(db);
        let mut created = Vec::new();
        for _ in 0..6 {
            let lic = f.available(db);
            created.push((lic.license.license.id, Instant::now()));
            std::thread::sleep(std::time::Duration::from_millis(400));
        }
        let events = db.events(&Default::default(), Page::new(500, 0).unwrap()).unwrap().0;
        let deadline = Instant::now() + std::time::Duration::from_secs(15);
        while healthy.lock().unwrap().delivered.len() < created.len() && Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        worker.stop();
        let seen = healthy.lock().unwrap();
        assert_eq!(seen.delivered.len(), created.len(), "every event reached the healthy endpoint");
        assert!(seen.delivered.values().all(|n| *n == 1), "none twice");
        for (license, at) in &created {
            let ev = events
                .iter()
                .find(|e| e.event_type == "license.created" && e.license_id == Some(*license))
                .unwrap_or_else(|| panic!("event of {license}: {events:?}"));
            let arrived = seen.arrived[&ev.id.to_string()];
            let waited = arrived.duration_since(*at);
            assert!(waited < std::time::Duration::from_secs(2), "an event waited {waited:?} behind the hanging endpoint");
        }
        assert_eq!(hanging.most_open_at_once.load(Ordering::SeqCst), 1, "one delivery in flight per endpoint");
    }
}

both_backends! {
    fn a_slow_endpoint_is_never_sent_a_delivery_twice_by_two_workers(db) {
        // Claims last 1 s here; each answer takes 2 s. Without renewal the second worker would
        // claim the deliveries the first is still sending and send them again.
        let (url, slow) = raw_receiver(std::time::Duration::from_secs(2), OK);
        let (h, _) = hook(db, &url, &["license.created"]);
        let f = Fixture::new(db);
        for _ in 0..3 {
            f.available(db);
        }
        let options = Options {
            claim_lease: Duration::seconds(1),
            renew_every: std::time::Duration::from_millis(200),
            tick: std::time::Duration::from_millis(100),
            ..Options::default()
        };
        let workers: Vec<_> = (0..2)
            .map(|_| {
                webhook_delivery::spawn(
                    Environments::from_stores([db.reopen()]),
                    Arc::new(Deliverer::new(&WebhookPolicy::allow_private(), options.clone())),
                )
            })
            .collect();
        let deadline = Instant::now() + std::time::Duration::from_secs(20);
        while deliveries(db, h.id).iter().any(|d| d.status != "delivered") && Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        drop(workers);
        let ids = slow.event_ids.lock().unwrap().clone();
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 3, "every event sent");
        assert_eq!(ids.len(), 3, "and each once: {ids:?}");
        assert!(deliveries(db, h.id).iter().all(|d| d.attempts == 1));
    }
}

both_backends! {
    fn an_endpoint_that_keeps_failing_opens_its_breaker_and_waits(db) {
        let (url, seen) = receiver();
        let (h, secret) = hook(db, &url, &["license.created"]);
        {
            let mut s = seen.lock().unwrap();
            s.secret = secret;
            s.down = true;
        }
        let f = Fixture::new(db);
        for _ in 0..12 {
            f.available(db);
        }
        let worker = Deliverer::new(&WebhookPolicy::allow_private(), Options::default());
        let env = Environment::new("test", db.store.clone());
        let t0 = OffsetDateTime::now_utc();
        assert_eq!(worker.pass(&env, || t0), 5, "five failures in a row open the breaker");
        let d = deliveries(db, h.id);
        let unsent: Vec<_> = d.iter().filter(|d| d.attempts == 0).collect();
        assert_eq!(unsent.len(), 7, "the rest were given back unsent");
        assert!(unsent.iter().all(|d| d.next_attempt_at > t0 + Duration::seconds(29)), "due when the breaker closes");
        assert_eq!(worker.pass(&env, || t0 + Duration::seconds(20)), 0, "open: nothing is sent");
        // Half-open after 30 s: one try, which fails and opens it again for longer.
        assert_eq!(worker.pass(&env, || t0 + Duration::seconds(31)), 1);
        assert_eq!(worker.pass(&env, || t0 + Duration::seconds(80)), 0);
        seen.lock().unwrap().down = false;
        assert_eq!(worker.pass(&env, || t0 + Duration::minutes(10)), 12, "closed again after a success");
        assert!(deliveries(db, h.id).iter().all(|d| d.status == "delivered"));
    }
}

#[test]
fn audit_entries_hold_the_endpoint_host_never_its_url() {
    let db = TestDb::sqlite();
    block_on(async {
        let app = TestApp::new(&[&db]).with_token();
        let created = app
            .req(
                "POST",
                "/webhooks",
                Some(json!({"url": "https://hooks.example.com/t/tok_s3cr3t?sig=abc123", "events": ["*"]})),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED);
        let id = created.body["id"].as_str().unwrap();
        let patched = app
            .req(
                "PATCH",
                &format!("/webhooks/{id}"),
                Some(json!({"url": "https://other.example.com/t/tok_n3w?sig=def456"})),
            )
            .await;
        assert_eq!(patched.status, StatusCode::OK);
        for role in [Role::Viewer, Role::Support, Role::Admin] {
            let token = app.create_token(&format!("{role:?}").to_lowercase(), role);
            let audit = app.as_token(&token, "GET", "/audit", None).await;
            assert_eq!(audit.status, StatusCode::OK);
            let text = audit.text();
            assert!(
                text.contains("hooks.example.com") && text.contains("other.example.com"),
                "{text}"
            );
            for secret in ["tok_s3cr3t", "abc123", "tok_n3w", "def456", "/t/"] {
                assert!(
                    !text.contains(secret),
                    "{role:?} reads {secret} in the audit: {text}"
                );
            }
            if role != Role::Admin {
                let list = app.as_token(&token, "GET", "/webhooks", None).await;
                assert_eq!(
                    list.status,
                    StatusCode::FORBIDDEN,
                    "only admins list endpoints"
                );
            }
        }
    });
}
