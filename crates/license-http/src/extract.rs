//! What handlers read from a request: `ApiJson<T>`, the JSON body extractor of every Keysmith
//! route (like `web::Json`, but a rejection names the offending field by its path —
//! `metadata: invalid type: sequence, expected a map` —, the body limit is [`crate::MAX_BODY`],
//! and errors are `ApiError`s), the environment of the path, the client IP and the request id.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::pin::Pin;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::environments::Environment;
use crate::error::ApiError;
use crate::net::ClientIps;
use crate::telemetry::RequestId;

/// The environment called `name`, or 404 `ENVIRONMENT_NOT_FOUND`.
pub fn environment(state: &AppState, name: &str) -> Result<Arc<Environment>, ApiError> {
    state
        .envs
        .get(name)
        .cloned()
        .ok_or_else(|| ApiError::EnvironmentNotFound(name.to_owned()))
}

/// The client's IP address, for every use (rate limits, abuse rules, login throttling, audit,
/// activation records): the TCP peer, or behind a trusted proxy the address the proxies forward
/// ([`ClientIps::resolve`]).
pub fn client_ip(req: &HttpRequest) -> IpAddr {
    let peer = req
        .peer_addr()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip());
    match req.app_data::<web::Data<ClientIps>>() {
        Some(ips) => ips.resolve(peer, req.headers()),
        None => peer.to_canonical(),
    }
}

/// The request id the telemetry middleware gave this request.
pub fn request_id(req: &HttpRequest) -> String {
    req.extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default()
}

/// A JSON request body of type `T`.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

/// Parses `bytes` as `T`, naming the path of whatever does not fit. A number with no
/// fractional part is an integer whatever its spelling (`2.0` is JSON Schema's integer 2).
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // The usual body reads straight into `T`; only one that does not goes through a `Value`
    // (where `2.0` can become `2`), so the hot path allocates no tree.
    if let Ok(t) = serde_json::from_slice(bytes) {
        return Ok(t);
    }
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::InvalidRequest(format!("invalid JSON body: {e}")))?;
    from_value(value)
}

/// Reads `T` from a parsed JSON body (a number like `2.0` reads as the integer 2), naming the
/// path of whatever does not fit.
pub fn from_value<T: DeserializeOwned>(mut value: serde_json::Value) -> Result<T, ApiError> {
    integral_floats_as_integers(&mut value);
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || path.is_empty() {
            ApiError::InvalidRequest(format!("invalid JSON body: {inner}"))
        } else {
            ApiError::InvalidRequest(format!("{path}: {inner}"))
        }
    })
}

/// Rewrites every number like `2.0` as the integer `2` (in range of `i64`), in place.
fn integral_floats_as_integers(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|_| n.is_f64())
                && f.fract() == 0.0
                && f.abs() < 9.0e15
            {
                // |f| < 2^53: exact as an i64.
                #[expect(clippy::cast_possible_truncation, reason = "integral and in range")]
                let i = f as i64;
                *n = i.into();
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(integral_floats_as_integers),
        serde_json::Value::Object(map) => map.values_mut().for_each(integral_floats_as_integers),
        _ => {}
    }
}

fn is_json(req: &HttpRequest) -> bool {
    req.mime_type().ok().flatten().is_some_and(|m| {
        m.type_() == "application"
            && (m.subtype() == "json" || m.suffix().is_some_and(|s| s == "json"))
    })
}

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = is_json(req);
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !json {
                return Err(ApiError::UnsupportedMediaType);
            }
            let bytes = body.await.map_err(|e| match e.as_error::<PayloadError>() {
                Some(PayloadError::Overflow) => ApiError::PayloadTooLarge(crate::MAX_BODY),
                _ => ApiError::InvalidRequest(format!("cannot read the request body: {e}")),
            })?;
            parse(&bytes).map(ApiJson)
        })
    }
}
