//! Fixtures shared by the integration tests and the `check` bench (compiled into both targets):
//! leases signed by a local key, cache files written as the client writes them, a closed port,
//! and a canned HTTP server that answers a fixed script and counts requests.
#![allow(
    dead_code,
    reason = "compiled into the tests and the bench; each uses a part"
)]
#![allow(
    clippy::unwrap_used,
    reason = "test fixtures: any failure fails the test"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use license_client::{Client, ManualClock};
use license_core::lease::{Claims, SigningKey};
use license_core::{LicenseStatus, PublicKey};
use rand::SeedableRng;
use time::OffsetDateTime;

pub const ENV: &str = "production";
pub const FP: &str = "host-1";
pub const KEY: &str = "TEST-7KQ2-9XHM-3PZD";

/// A deterministic signing key (`seed` picks which).
pub fn signing_key(seed: u64) -> SigningKey {
    SigningKey::generate(&mut rand::rngs::StdRng::seed_from_u64(seed))
}

/// Claims as the server would sign them for `FP` in `ENV`, issued at `iat`, trusted for `ttl`.
pub fn claims(key: &SigningKey, iat: OffsetDateTime, ttl: time::Duration) -> Claims {
    Claims {
        kid: key.kid().to_owned(),
        env: ENV.into(),
        lid: uuid::Uuid::from_u128(1),
        pid: uuid::Uuid::from_u128(2),
        fp: Some(FP.into()),
        st: LicenseStatus::Active,
        ent: serde_json::json!({"pro": true})
            .as_object()
            .unwrap()
            .clone(),
        iat: iat.unix_timestamp(),
        exp: (iat + ttl).unix_timestamp(),
        lexp: None,
        nonce: None,
    }
}

/// A cache file exactly as the client writes it.
pub fn write_cache(
    dir: &Path,
    env: &str,
    key: Option<&str>,
    lease: Option<&str>,
    keys: &[PublicKey],
    latest_seen: i64,
) {
    let keys: Vec<_> = keys
        .iter()
        .map(|k| serde_json::json!({"kid": k.kid, "x": k.x_b64()}))
        .collect();
    let file = serde_json::json!({
        "format": "keysmith.license-cache.v1",
        "environment": env,
        "key": key,
        "lease": lease,
        "grace_until": null,
        "keys": keys,
        "latest_seen": latest_seen,
    });
    std::fs::write(
        dir.join(format!("keysmith-{env}.json")),
        serde_json::to_vec_pretty(&file).unwrap(),
    )
    .unwrap();
}

/// A port on 127.0.0.1 where nothing listens.
pub fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The URL of a server that is down.
pub fn closed_url() -> String {
    format!("http://127.0.0.1:{}", closed_port())
}

/// A client of `url` for `FP` in `ENV`, caching under `dir`, on `clock`.
pub fn client(dir: &Path, url: &str, clock: Arc<ManualClock>) -> Client {
    Client::builder(url, ENV)
        .cache_dir(dir)
        .fingerprint(FP)
        .clock(clock)
        .build()
        .unwrap()
}

/// [`client`], over a cache holding `KEY`, `lease` and `keys` and the latest time seen.
pub fn with_cache(
    dir: &Path,
    url: &str,
    lease: &str,
    keys: &[PublicKey],
    latest_seen: i64,
    clock: Arc<ManualClock>,
) -> Client {
    write_cache(dir, ENV, Some(KEY), Some(lease), keys, latest_seen);
    client(dir, url, clock)
}

/// Asserts that the cache under `dir` holds no lease any more, so a client of a server that is
/// down has nothing to run on.
pub fn assert_no_lease_left(dir: &Path, clock: Arc<ManualClock>) {
    let text = std::fs::read_to_string(dir.join(format!("keysmith-{ENV}.json"))).unwrap();
    let file: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(file["lease"].is_null(), "{text}");
    let offline = client(dir, &closed_url(), clock);
    match offline.check() {
        Err(license_client::Error::Unreachable { .. }) => {}
        other => panic!("no lease to run offline on, yet {other:?}"),
    }
}

/// One scripted answer: status, extra headers, body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn json(status: u16, body: serde_json::Value) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string(),
        }
    }

    pub fn text(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "text/html".into())],
            body: body.into(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// How the canned server answers one request, given its path and body.
pub type Handler = Box<dyn Fn(&str, &str) -> Reply + Send>;

/// Always the same reply.
pub fn fixed(reply: Reply) -> Handler {
    Box::new(move |_, _| reply.clone())
}

/// A successful validate or activate answer: a lease signed by `key` for `FP` in `ENV`, issued
/// now (the real clock), trusted for `ttl`, echoing the request's nonce.
pub fn leased(status: u16, key: SigningKey, ttl: time::Duration) -> Handler {
    Box::new(move |_, body| {
        let request: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        let mut c = claims(&key, OffsetDateTime::now_utc(), ttl);
        c.nonce = request["nonce"].as_str().map(str::to_owned);
        Reply::json(
            status,
            serde_json::json!({"valid": true, "code": "VALID", "lease": key.sign(&c).unwrap()}),
        )
    })
}

/// `GET /keys` publishing `keys`.
pub fn published(keys: &[PublicKey]) -> Handler {
    let keys: Vec<_> = keys
        .iter()
        .map(|k| {
            serde_json::json!({"kid": k.kid, "alg": "EdDSA", "crv": "Ed25519", "x": k.x_b64(), "status": "active"})
        })
        .collect();
    fixed(Reply::json(200, serde_json::json!({ "keys": keys })))
}

/// An HTTP/1.1 server on 127.0.0.1 answering each request with the next handler of its script
/// (the last one again once the script is used up), one connection per request.
pub struct Canned {
    pub url: String,
    requests: Arc<AtomicUsize>,
    paths: Arc<Mutex<Vec<String>>>,
}

impl Canned {
    pub fn start(script: Vec<Handler>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let paths = Arc::new(Mutex::new(Vec::new()));
        let (count, seen) = (requests.clone(), paths.clone());
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(stream) = stream else { return };
                let Some((path, body)) = read_request(&stream) else {
                    continue;
                };
                let reply = script[n.min(script.len() - 1)](&path, &body);
                // Counted before the answer leaves, so a client that has it sees the count.
                seen.lock().unwrap().push(path);
                count.fetch_add(1, Ordering::SeqCst);
                write_reply(stream, &reply);
            }
        });
        Self {
            url,
            requests,
            paths,
        }
    }

    /// How many requests were answered so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// The request paths, in order.
    pub fn paths(&self) -> Vec<String> {
        self.paths.lock().unwrap().clone()
    }
}

fn read_request(stream: &TcpStream) -> Option<(String, String)> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_owned();
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((path, String::from_utf8_lossy(&body).into_owned()))
}

fn write_reply(mut stream: TcpStream, reply: &Reply) {
    let mut head = format!(
        "HTTP/1.1 {} X\r\ncontent-length: {}\r\nconnection: close\r\n",
        reply.status,
        reply.body.len()
    );
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let sent = stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(reply.body.as_bytes()));
    drop(sent);
}
