//! The validation API (SPEC §7) over blocking HTTP: timeouts, bounded retries of idempotent calls
//! with exponential backoff and jitter, `Retry-After`, and the line between an authoritative answer
//! (2xx, or a 4xx carrying a Keysmith code) and a failure to get one (connection error, timeout,
//! 5xx, 429, or a body that is not Keysmith's, such as a captive portal's page).

use std::sync::Arc;
use std::time::Duration;

use license_core::PublicKey;
use rand::Rng;
use serde::Serialize;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::Value;

use crate::clock::Clock;

/// The largest response body read; Keysmith's answers are a few KiB.
const MAX_BODY: u64 = 256 * 1024;

/// How hard the client tries before it falls back on the cache.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    /// Attempts of an idempotent call, the first included (at least 1).
    pub attempts: u32,
    /// The first backoff; each further one doubles, up to `max_delay`, with jitter.
    pub base_delay: Duration,
    /// The longest backoff between two attempts.
    pub max_delay: Duration,
    /// The longest `Retry-After` the client waits out; a longer one ends the call at once.
    pub max_wait: Duration,
}

/// Timeouts and retries of a [`Transport`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    /// Name resolution plus connection (and TLS handshake).
    pub connect: Duration,
    /// Sending the request, and receiving the response headers, and then its body.
    pub read: Duration,
}

/// A server's answer: accepted (2xx) or refused with a code (4xx other than 429).
#[derive(Debug)]
pub(crate) enum Answer<T> {
    Accepted(T),
    Refused(Refusal),
}

/// A 4xx answer with a SPEC §7 code: authoritative.
#[derive(Debug, Clone)]
pub(crate) struct Refusal {
    pub code: String,
    pub message: String,
}

/// Why no answer was had.
#[derive(Debug, Clone)]
pub(crate) enum Failure {
    /// Connection error, timeout, 5xx, or a body that is not a Keysmith answer.
    Unreachable(String),
    /// 429 with a `Retry-After` longer than the client waits, or on the last attempt.
    RateLimited(Duration),
}

enum Attempt<T> {
    Done(Answer<T>),
    Retry {
        failure: Failure,
        retry_after: Option<Duration>,
    },
}

/// `POST /validate`, `/activate` and `/deactivate` bodies.
#[derive(Debug, Serialize)]
pub(crate) struct Request<'a> {
    pub key: &'a str,
    pub fingerprint: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<&'a str>,
}

/// What validate and activate answer with (the fields the client uses; whether the answer is
/// `VALID` or `GRACE_PERIOD` follows from the verified lease).
#[derive(Debug, serde::Deserialize)]
pub(crate) struct LeaseAnswer {
    pub lease: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub grace_until: Option<time::OffsetDateTime>,
}

#[derive(Debug, serde::Deserialize)]
struct KeySet {
    keys: Vec<Jwk>,
}

#[derive(Debug, serde::Deserialize)]
struct Jwk {
    kid: String,
    x: String,
    #[serde(default)]
    alg: Option<String>,
}

/// One environment of one validation API.
pub(crate) struct Transport {
    agent: ureq::Agent,
    /// `<validation url>/v1/<environment>`.
    base: String,
    policy: RetryPolicy,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("base", &self.base)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Transport {
    pub(crate) fn new(
        validation_url: &str,
        environment: &str,
        timeouts: Timeouts,
        policy: RetryPolicy,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_resolve(Some(timeouts.connect))
            .timeout_connect(Some(timeouts.connect))
            .timeout_send_request(Some(timeouts.read))
            .timeout_send_body(Some(timeouts.read))
            .timeout_recv_response(Some(timeouts.read))
            .timeout_recv_body(Some(timeouts.read))
            .user_agent(concat!(
                "keysmith-license-client/",
                env!("CARGO_PKG_VERSION")
            ))
            .build();
        Self {
            agent: config.into(),
            base: format!("{}/v1/{environment}", validation_url.trim_end_matches('/')),
            policy,
            clock,
        }
    }

    /// `POST /validate` (idempotent: retried).
    pub(crate) fn validate(&self, body: &Request<'_>) -> Result<Answer<LeaseAnswer>, Failure> {
        self.exchange("validate", Some(body), true)
    }

    /// `POST /activate` (idempotent per SPEC §7: a second call answers `ALREADY_ACTIVATED` and
    /// takes no new slot, so it is retried).
    pub(crate) fn activate(&self, body: &Request<'_>) -> Result<Answer<LeaseAnswer>, Failure> {
        self.exchange("activate", Some(body), true)
    }

    /// `POST /deactivate`, tried once: a retry after a lost answer would say `NOT_FOUND` for a
    /// deactivation that worked.
    pub(crate) fn deactivate(&self, body: &Request<'_>) -> Result<Answer<IgnoredAny>, Failure> {
        self.exchange("deactivate", Some(body), false)
    }

    /// `GET /keys`: the environment's Ed25519 keys, or `None` when they could not be had.
    pub(crate) fn keys(&self) -> Option<Vec<PublicKey>> {
        match self.exchange::<KeySet, ()>("keys", None, true) {
            Ok(Answer::Accepted(set)) => Some(
                set.keys
                    .iter()
                    .filter(|k| k.alg.as_deref().is_none_or(|a| a == "EdDSA"))
                    .filter_map(|k| PublicKey::from_b64(&k.kid, &k.x))
                    .collect(),
            ),
            Ok(Answer::Refused(_)) | Err(_) => None,
        }
    }

    fn exchange<T: DeserializeOwned, B: Serialize>(
        &self,
        path: &str,
        body: Option<&B>,
        idempotent: bool,
    ) -> Result<Answer<T>, Failure> {
        let attempts = if idempotent {
            self.policy.attempts.max(1)
        } else {
            1
        };
        let mut attempt = 1;
        loop {
            let (failure, retry_after) = match self.once(path, body) {
                Attempt::Done(answer) => return Ok(answer),
                Attempt::Retry {
                    failure,
                    retry_after,
                } => (failure, retry_after),
            };
            if attempt >= attempts {
                return Err(failure);
            }
            let delay = match retry_after {
                Some(wait) if wait > self.policy.max_wait => return Err(failure),
                Some(wait) => wait.max(self.backoff(attempt)),
                None => self.backoff(attempt),
            };
            self.clock.sleep(delay);
            attempt += 1;
        }
    }

    /// The pause after failed attempt `attempt` (1-based): `base · 2^(attempt-1)`, at most
    /// `max_delay`, of which a random half is jitter (so clients that failed together do not
    /// retry together).
    fn backoff(&self, attempt: u32) -> Duration {
        let doubled = self
            .policy
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let full = doubled.min(self.policy.max_delay);
        let half = full / 2;
        let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
        half + Duration::from_millis(rand::rng().random_range(0..=jitter_ms))
    }

    fn once<T: DeserializeOwned, B: Serialize>(&self, path: &str, body: Option<&B>) -> Attempt<T> {
        let url = format!("{}/{path}", self.base);
        let sent = match body {
            Some(b) => self.agent.post(&url).send_json(b),
            None => self.agent.get(&url).call(),
        };
        let mut res = match sent {
            Ok(res) => res,
            Err(e) => {
                return Attempt::Retry {
                    failure: Failure::Unreachable(e.to_string()),
                    retry_after: None,
                };
            }
        };
        let status = res.status().as_u16();
        let retry_after = res
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = res
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_string()
            .ok();
        match status {
            200..=299 => match text.and_then(|t| serde_json::from_str::<T>(&t).ok()) {
                Some(answer) => Attempt::Done(Answer::Accepted(answer)),
                None => Attempt::Retry {
                    failure: Failure::Unreachable(format!(
                        "HTTP {status} with a body that is not a Keysmith answer"
                    )),
                    retry_after: None,
                },
            },
            429 => Attempt::Retry {
                failure: Failure::RateLimited(retry_after.unwrap_or(Duration::from_secs(1))),
                retry_after,
            },
            400..=499 => match text.as_deref().and_then(refusal) {
                Some(refusal) => Attempt::Done(Answer::Refused(refusal)),
                None => Attempt::Retry {
                    failure: Failure::Unreachable(format!(
                        "HTTP {status} without a Keysmith answer"
                    )),
                    retry_after: None,
                },
            },
            500..=599 => Attempt::Retry {
                failure: Failure::Unreachable(format!("server error {status}")),
                retry_after,
            },
            _ => Attempt::Retry {
                failure: Failure::Unreachable(format!(
                    "unexpected HTTP {status} (a redirect? give the client the final URL)"
                )),
                retry_after: None,
            },
        }
    }
}

/// The code and message of a 4xx body: a licence outcome (`{"code", "message"}`) or a
/// transport-level error (`{"error": {"code", "message"}}`).
fn refusal(body: &str) -> Option<Refusal> {
    let v: Value = serde_json::from_str(body).ok()?;
    let o = v.get("error").unwrap_or(&v);
    Some(Refusal {
        code: o.get("code")?.as_str()?.to_owned(),
        message: o
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;

    fn transport(attempts: u32) -> Transport {
        Transport::new(
            "http://127.0.0.1:9/",
            "production",
            Timeouts {
                connect: Duration::from_secs(1),
                read: Duration::from_secs(1),
            },
            RetryPolicy {
                attempts,
                base_delay: Duration::from_millis(200),
                max_delay: Duration::from_secs(2),
                max_wait: Duration::from_secs(10),
            },
            Arc::new(SystemClock),
        )
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_at_most_half_of_it_jitter() {
        let t = transport(3);
        for _ in 0..50 {
            let first = t.backoff(1);
            assert!((100..=200).contains(&first.as_millis()), "{first:?}");
            let third = t.backoff(3);
            assert!((400..=800).contains(&third.as_millis()), "{third:?}");
            let late = t.backoff(40);
            assert!((1000..=2000).contains(&late.as_millis()), "{late:?}");
        }
    }

    #[test]
    fn refusals_are_read_from_outcome_and_error_bodies_only() {
        let r = refusal(r#"{"valid":false,"code":"REVOKED","message":"License has been revoked"}"#)
            .unwrap();
        assert_eq!(
            (r.code.as_str(), r.message.as_str()),
            ("REVOKED", "License has been revoked")
        );
        let r =
            refusal(r#"{"error":{"code":"ENVIRONMENT_NOT_FOUND","message":"m","request_id":"x"}}"#)
                .unwrap();
        assert_eq!(r.code, "ENVIRONMENT_NOT_FOUND");
        assert!(refusal("<html>Sign in to the hotel wifi</html>").is_none());
        assert!(refusal(r#"{"code":5}"#).is_none());
    }

    #[test]
    fn the_base_url_names_the_environment_whatever_the_trailing_slash() {
        assert_eq!(transport(1).base, "http://127.0.0.1:9/v1/production");
    }
}
