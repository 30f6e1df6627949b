//! Request ids, one structured log line per request, Prometheus metrics, and logging set-up.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, web};
use serde_json::Value;

use crate::config::LogFormat;
use crate::error::{ErrorPayload, OutcomeCode};

/// The id of the request being served (echoed as `X-Request-Id`).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The first characters of the key a request named, for its log line (never more than eight).
#[derive(Debug, Clone)]
pub struct KeyHint(pub String);

const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Debug, Default, Clone)]
struct Series {
    count: u64,
    sum: f64,
    buckets: [u64; BUCKETS.len()],
}

/// Request counts and latency histograms by route and outcome code.
#[derive(Debug, Default)]
pub struct Metrics {
    series: Mutex<BTreeMap<(String, &'static str), Series>>,
}

impl Metrics {
    /// Records one request.
    pub fn record(&self, route: &str, code: &'static str, seconds: f64) {
        if let Ok(mut map) = self.series.lock() {
            let s = map.entry((route.to_owned(), code)).or_default();
            s.count += 1;
            s.sum += seconds;
            for (i, le) in BUCKETS.iter().enumerate() {
                if seconds <= *le {
                    s.buckets[i] += 1;
                }
            }
        }
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        let map = match self.series.lock() {
            Ok(m) => m.clone(),
            Err(_) => BTreeMap::new(),
        };
        let mut out = String::from(
            "# HELP keysmith_requests_total Requests served, by route and outcome code.\n\
             # TYPE keysmith_requests_total counter\n",
        );
        for ((route, code), s) in &map {
            out.push_str(&format!(
                "keysmith_requests_total{{route=\"{route}\",code=\"{code}\"}} {}\n",
                s.count
            ));
        }
        out.push_str(
            "# HELP keysmith_request_duration_seconds Request latency, by route and outcome code.\n\
             # TYPE keysmith_request_duration_seconds histogram\n",
        );
        for ((route, code), s) in &map {
            let labels = format!("route=\"{route}\",code=\"{code}\"");
            for (le, n) in BUCKETS.iter().zip(s.buckets) {
                out.push_str(&format!(
                    "keysmith_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {n}\n"
                ));
            }
            out.push_str(&format!(
                "keysmith_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}\n",
                s.count
            ));
            out.push_str(&format!(
                "keysmith_request_duration_seconds_sum{{{labels}}} {}\n",
                s.sum
            ));
            out.push_str(&format!(
                "keysmith_request_duration_seconds_count{{{labels}}} {}\n",
                s.count
            ));
        }
        out
    }
}

fn incoming_id(req: &ServiceRequest) -> Option<String> {
    let v = req.headers().get("x-request-id")?.to_str().ok()?;
    let ok = !v.is_empty()
        && v.len() <= 64
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    ok.then(|| v.to_owned())
}

fn status_code_name(status: u16) -> &'static str {
    match status {
        200..=299 => "OK",
        300..=399 => "REDIRECT",
        404 => "NOT_FOUND",
        405 => "METHOD_NOT_ALLOWED",
        400..=499 => "CLIENT_ERROR",
        _ => "INTERNAL",
    }
}

/// The middleware every Keysmith app is wrapped in: assigns the request id, adds it to error
/// bodies and the `X-Request-Id` header, records metrics, and logs one line.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let start = Instant::now();
    // A v4 UUID from the thread's generator: `Uuid::new_v4` asks the kernel (a system call per
    // request); an id needs to be unique, not a secret.
    let id = incoming_id(&req).unwrap_or_else(|| {
        uuid::Builder::from_random_bytes(rand::random())
            .into_uuid()
            .simple()
            .to_string()
    });
    req.extensions_mut().insert(RequestId(id.clone()));
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let res = next.call(req).await?.map_into_boxed_body();

    let status = res.status().as_u16();
    let (code, payload, key) = {
        let ext = res.response().extensions();
        (
            ext.get::<OutcomeCode>()
                .map(|c| c.0)
                .unwrap_or_else(|| status_code_name(status)),
            ext.get::<ErrorPayload>().cloned(),
            ext.get::<KeyHint>().map(|k| k.0.clone()),
        )
    };
    let mut res = match payload {
        Some(ErrorPayload(mut body)) => {
            if let Some(Value::Object(e)) = body.get_mut("error") {
                e.insert("request_id".into(), Value::String(id.clone()));
            }
            let (http_req, old) = res.into_parts();
            let mut fresh = HttpResponse::build(old.status());
            for (k, v) in old.headers() {
                if k != actix_web::http::header::CONTENT_LENGTH {
                    fresh.append_header((k.clone(), v.clone()));
                }
            }
            ServiceResponse::new(http_req, fresh.json(body))
        }
        None => res,
    };
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(HeaderName::from_static("x-request-id"), v);
    }
    // Every API response may hold a key, a secret, a lease or personal data: none is cached
    // unless its handler says otherwise (the console's files do). Never sniffed (issue 17 §8).
    let headers = res.headers_mut();
    headers.insert(
        actix_web::http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !headers.contains_key(actix_web::http::header::CACHE_CONTROL) {
        headers.insert(
            actix_web::http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        );
    }
    let seconds = start.elapsed().as_secs_f64();
    if let Some(m) = metrics {
        m.record(&route, code, seconds);
    }
    tracing::info!(
        request_id = %id,
        method = %method,
        route = %route,
        status,
        code,
        latency_ms = seconds * 1000.0,
        key = key.as_deref().unwrap_or(""),
        "request"
    );
    Ok(res)
}

/// Installs the global log subscriber (`KEYSMITH_LOG` filter, text or JSON lines).
pub fn init_logging(filter: &str, format: LogFormat) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .map_err(|e| format!("KEYSMITH_LOG: {filter:?} is not a log filter: {e}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    result.map_err(|e| format!("logging already initialised: {e}"))
}
