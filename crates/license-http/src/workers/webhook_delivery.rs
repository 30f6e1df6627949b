//! Posting webhook deliveries: the JSON body `{"id","type","created_at","environment","data"}`,
//! `Keysmith-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`, `Keysmith-Event-Id` for the
//! receiver's idempotency, a 10 s timeout, and every attempt recorded by the store.

use std::time::{Duration, Instant};

use license_store::delivery::{Attempt, Outgoing};
use ring::hmac;
use time::OffsetDateTime;

use crate::environments::Environment;

/// Deliveries claimed per environment and pass.
pub const CLAIM: i64 = 200;

/// The HTTP client for deliveries: 10 s timeout, non-2xx answers are outcomes, not errors.
pub fn client() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .build()
        .into()
}

/// `t=<unix>,v1=<hex>`: HMAC-SHA256 with the endpoint's secret over `"{t}.{body}"`.
pub fn signature(secret: &str, t: i64, body: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let tag = hmac::sign(&key, format!("{t}.{body}").as_bytes());
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("t={t},v1={hex}")
}

/// The JSON body of a delivery: `{"id","type","created_at","environment","data"}`.
#[derive(serde::Serialize)]
struct Body<'a> {
    id: uuid::Uuid,
    #[serde(rename = "type")]
    event_type: &'a str,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    environment: &'a str,
    data: &'a license_store::model::JsonObject,
}

fn body(env: &str, o: &Outgoing) -> String {
    let body = Body {
        id: o.event.id,
        event_type: &o.event.event_type,
        created_at: o.event.created_at,
        environment: env,
        data: &o.event.data,
    };
    serde_json::to_string(&body).unwrap_or_default()
}

/// Posts one delivery and says how it went.
pub fn post(agent: &ureq::Agent, env: &str, o: &Outgoing, now: OffsetDateTime) -> Attempt {
    let body = body(env, o);
    let started = Instant::now();
    let result = agent
        .post(&o.url)
        .header("content-type", "application/json")
        .header(
            "keysmith-signature",
            &signature(&o.secret, now.unix_timestamp(), &body),
        )
        .header("keysmith-event-id", &o.event.id.to_string())
        .header("user-agent", "keysmith-webhooks/1")
        .send(&body);
    let latency_ms = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
    match result {
        Ok(res) => Attempt {
            status_code: Some(i32::from(res.status().as_u16())),
            latency_ms,
            error: None,
        },
        Err(e) => Attempt {
            status_code: None,
            latency_ms,
            error: Some(e.to_string()),
        },
    }
}

/// One delivery pass for an environment: fan new events out, claim what is due, post, record.
/// Returns how many deliveries were attempted.
pub fn pass(env: &Environment, agent: &ureq::Agent, clock: impl Fn() -> OffsetDateTime) -> usize {
    let store = env.store();
    loop {
        match store.fan_out(clock(), 500) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(environment = env.name(), error = %e, "webhook fan-out failed");
                break;
            }
        }
    }
    let due = match store.claim_deliveries(clock(), CLAIM) {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(environment = env.name(), error = %e, "cannot claim webhook deliveries");
            return 0;
        }
    };
    for o in &due {
        let attempt = post(agent, env.name(), o, clock());
        if let Err(e) = store.record_attempt(clock(), o.delivery_id, &attempt) {
            tracing::warn!(environment = env.name(), delivery = %o.delivery_id, error = %e, "cannot record a webhook attempt");
        }
    }
    due.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_of_t_dot_body() {
        // Reference value computed with Python's hmac module.
        assert_eq!(
            signature("whsec_test", 1_800_000_000, "{\"a\":1}"),
            "t=1800000000,v1=7de5e6bbc99c65ef0ddccacd4308ba03a5a12eb8859a0db070c5ca731c4fdc19"
        );
    }
}
