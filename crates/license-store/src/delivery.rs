//! The webhook worker's side of delivery from the durable outbox (SPEC §9). The worker fans each
//! event out to the enabled endpoints whose filter matches (one delivery row per endpoint and
//! event, unique), then claims due deliveries a few per endpoint, posts them, and records every
//! attempt. A claim pushes `next_attempt_at` ahead by a lease, renewed while the worker still
//! holds it, so a slow endpoint never makes a second worker send the same delivery, and a
//! process that dies mid-post leaves the delivery to be retried, never lost; the receiver
//! deduplicates by `Keysmith-Event-Id`.

use diesel::prelude::*;
use rand::Rng;
use rand::seq::SliceRandom;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::Store;
use crate::error::{StoreError, StoreResult};
use crate::model::{Event, from_db, new_id, parse_id, to_db};
use crate::rows::{DeliveryRow, EventRow, WebhookRow};
use crate::schema::{events, webhook_attempts, webhook_deliveries, webhook_endpoints};
use crate::webhooks::{Delivery, pending_delivery};

/// Deliveries are retried for this long after the event, then marked `failed`.
pub const RETRY_FOR: Duration = Duration::hours(24);
/// How long a claimed delivery is left alone before another worker may try it again, unless
/// the worker holding it renews the claim ([`Store::renew_claims`]).
pub const CLAIM_LEASE: Duration = Duration::seconds(60);

/// A delivery ready to post.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub delivery_id: Uuid,
    pub endpoint_id: Uuid,
    pub url: String,
    /// The endpoint's signing secret (opened from its sealed form).
    pub secret: String,
    pub event: Event,
    pub attempts: i32,
}

/// What one attempt gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub status_code: Option<i32>,
    pub latency_ms: i32,
    pub error: Option<String>,
}

impl Attempt {
    /// 2xx is success; anything else (including no answer) is retried.
    pub fn succeeded(&self) -> bool {
        self.status_code.is_some_and(|c| (200..300).contains(&c))
    }
}

/// Exponential backoff with jitter: 10 s, 20 s, 40 s, ... capped at one hour, ±20 %.
pub fn backoff(attempts: i32, rng: &mut impl rand::RngCore) -> Duration {
    let base = 10i64
        .saturating_mul(1i64 << attempts.clamp(0, 20))
        .min(3600);
    let jitter = rng.random_range(0.8..1.2);
    Duration::milliseconds((base as f64 * 1000.0 * jitter) as i64)
}

fn wants(events_filter: &str, event_type: &str) -> bool {
    serde_json::from_str::<Vec<String>>(events_filter)
        .map(|list| list.iter().any(|e| e == "*" || e == event_type))
        .unwrap_or(false)
}

impl Store {
    /// Turns up to `limit` new outbox events into deliveries for every enabled endpoint that
    /// wants them, and marks the events fanned out, in one transaction. Returns events handled.
    pub fn fan_out(&self, now: OffsetDateTime, limit: i64) -> StoreResult<usize> {
        self.write(|c| {
            let ids = c.claim_unfanned_events(limit)?;
            if ids.is_empty() {
                return Ok(0);
            }
            let evs: Vec<EventRow> = events::table
                .filter(events::id.eq_any(&ids))
                .select(EventRow::as_select())
                .load(c)?;
            let endpoints: Vec<WebhookRow> = webhook_endpoints::table
                .filter(webhook_endpoints::enabled.eq(true))
                .select(WebhookRow::as_select())
                .load(c)?;
            let mut rows = Vec::new();
            for e in &evs {
                for w in endpoints.iter().filter(|w| wants(&w.events, &e.event_type)) {
                    rows.push(pending_delivery(&w.id, &e.id, e.created_at, now));
                }
            }
            for chunk in rows.chunks(500) {
                crate::db::insert_many!(c, webhook_deliveries::table, chunk)?;
            }
            diesel::update(events::table.filter(events::id.eq_any(&ids)))
                .set(events::fanned_out.eq(true))
                .execute(c)?;
            Ok(ids.len())
        })
    }

    /// Claims, for up to `max_endpoints` endpoints not in `skip`, the `per_endpoint` oldest due
    /// deliveries of each (pushing their next attempt `lease` ahead, so no other worker takes
    /// them while this one posts), and returns them ready to post, grouped by endpoint in the
    /// order they should be sent. Endpoints are visited in random order, so a busy one cannot
    /// starve the others.
    pub fn claim_deliveries(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        skip: &[Uuid],
        per_endpoint: i64,
        max_endpoints: usize,
    ) -> StoreResult<Vec<Outgoing>> {
        if max_endpoints == 0 {
            return Ok(Vec::new());
        }
        let skip: Vec<String> = skip.iter().map(Uuid::to_string).collect();
        let claimed = self.write(|c| {
            let mut endpoints: Vec<String> = webhook_endpoints::table
                .select(webhook_endpoints::id)
                .load(c)?;
            endpoints.retain(|e| !skip.contains(e));
            endpoints.shuffle(&mut rand::rng());
            let mut ids = Vec::new();
            let mut taken = 0;
            for endpoint in &endpoints {
                if taken == max_endpoints {
                    break;
                }
                let due = c.claim_due_deliveries(endpoint, to_db(now), per_endpoint)?;
                if !due.is_empty() {
                    taken += 1;
                    ids.extend(due);
                }
            }
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            diesel::update(webhook_deliveries::table.filter(webhook_deliveries::id.eq_any(&ids)))
                .set(webhook_deliveries::next_attempt_at.eq(to_db(now + lease)))
                .execute(c)?;
            let rows: Vec<(DeliveryRow, WebhookRow, EventRow)> = webhook_deliveries::table
                .inner_join(webhook_endpoints::table)
                .inner_join(events::table)
                .filter(webhook_deliveries::id.eq_any(&ids))
                .order((
                    webhook_deliveries::endpoint_id.asc(),
                    webhook_deliveries::created_at.asc(),
                    webhook_deliveries::id.asc(),
                ))
                .select((
                    DeliveryRow::as_select(),
                    WebhookRow::as_select(),
                    EventRow::as_select(),
                ))
                .load(c)?;
            Ok(rows)
        })?;
        claimed
            .into_iter()
            .map(|(d, w, e)| {
                let secret = self
                    .sealer()
                    .open(&w.secret_sealed, w.id.as_bytes())
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| {
                        StoreError::corrupt("webhook secret does not open under this master key")
                    })?;
                Ok(Outgoing {
                    delivery_id: parse_id(&d.id)?,
                    endpoint_id: parse_id(&w.id)?,
                    url: w.url,
                    secret,
                    event: Event::try_from(e)?,
                    attempts: d.attempts,
                })
            })
            .collect()
    }

    /// Pushes the claim on deliveries still being worked on `lease` ahead of `now` (a worker's
    /// heartbeat while a slow endpoint answers), so no other worker claims and sends them again.
    /// Deliveries no longer pending are left alone. Returns how many claims were renewed.
    pub fn renew_claims(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        ids: &[Uuid],
    ) -> StoreResult<usize> {
        self.set_pending_next_attempt(ids, now + lease)
    }

    /// Gives claimed deliveries back without an attempt, due again at `at` (an endpoint's
    /// breaker opened before they were sent).
    pub fn release_claims(&self, at: OffsetDateTime, ids: &[Uuid]) -> StoreResult<usize> {
        self.set_pending_next_attempt(ids, at)
    }

    fn set_pending_next_attempt(&self, ids: &[Uuid], at: OffsetDateTime) -> StoreResult<usize> {
        if ids.is_empty() {
            return Ok(0);
        }
        let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
        self.write(|c| {
            let mut n = 0;
            for chunk in ids.chunks(500) {
                n += diesel::update(
                    webhook_deliveries::table
                        .filter(webhook_deliveries::id.eq_any(chunk))
                        .filter(webhook_deliveries::status.eq("pending")),
                )
                .set(webhook_deliveries::next_attempt_at.eq(to_db(at)))
                .execute(c)?;
            }
            Ok(n)
        })
    }

    /// Records an attempt: the attempt row, and the delivery `delivered`, rescheduled with
    /// backoff, or `failed` once [`RETRY_FOR`] has passed since the event.
    pub fn record_attempt(
        &self,
        now: OffsetDateTime,
        delivery: Uuid,
        attempt: &Attempt,
    ) -> StoreResult<Delivery> {
        let id = delivery.to_string();
        self.write(|c| {
            let d: DeliveryRow = webhook_deliveries::table
                .find(&id)
                .select(DeliveryRow::as_select())
                .first(c)
                .optional()?
                .ok_or(StoreError::NotFound { entity: "delivery" })?;
            diesel::insert_into(webhook_attempts::table)
                .values((
                    webhook_attempts::id.eq(new_id()),
                    webhook_attempts::delivery_id.eq(&id),
                    webhook_attempts::at.eq(to_db(now)),
                    webhook_attempts::status_code.eq(attempt.status_code),
                    webhook_attempts::latency_ms.eq(attempt.latency_ms),
                    webhook_attempts::error.eq(&attempt.error),
                ))
                .execute(c)?;
            let attempts = d.attempts + 1;
            let (status, next) = if attempt.succeeded() {
                ("delivered", now)
            } else if now - from_db(d.created_at) >= RETRY_FOR {
                ("failed", now)
            } else {
                ("pending", now + backoff(attempts, &mut rand::rng()))
            };
            // Only a delivery still pending is updated: a worker whose claim lapsed must not undo
            // another worker's `delivered`.
            diesel::update(
                webhook_deliveries::table
                    .find(&id)
                    .filter(webhook_deliveries::status.eq("pending")),
            )
            .set((
                webhook_deliveries::status.eq(status),
                webhook_deliveries::attempts.eq(attempts),
                webhook_deliveries::next_attempt_at.eq(to_db(next)),
                webhook_deliveries::last_status_code.eq(attempt.status_code),
                webhook_deliveries::last_error.eq(&attempt.error),
                webhook_deliveries::updated_at.eq(to_db(now)),
            ))
            .execute(c)?;
            let row = webhook_deliveries::table
                .find(&id)
                .select(DeliveryRow::as_select())
                .first(c)?;
            Delivery::try_from(row)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{SeedableRng, rngs::StdRng};

    #[test]
    fn backoff_doubles_with_jitter_and_caps_at_an_hour() {
        let mut rng = StdRng::seed_from_u64(1);
        for (attempts, base) in [(0, 10), (1, 20), (2, 40), (5, 320), (12, 3600), (40, 3600)] {
            let d = backoff(attempts, &mut rng).whole_milliseconds() as f64 / 1000.0;
            assert!(
                d >= base as f64 * 0.8 && d <= base as f64 * 1.2,
                "attempt {attempts}: {d}"
            );
        }
    }

    #[test]
    fn endpoints_filter_by_event_type_or_star() {
        assert!(wants(r#"["license.revoked"]"#, "license.revoked"));
        assert!(wants(r#"["*"]"#, "activation.created"));
        assert!(!wants(r#"["license.revoked"]"#, "license.created"));
        assert!(!wants("not json", "license.created"));
    }
}
