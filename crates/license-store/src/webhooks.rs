//! Webhook endpoints and their deliveries as an operator sees them (SPEC §9): endpoint CRUD with
//! the event filter and a signing secret shown once, the deliveries of an endpoint, ping and
//! retry. The worker's side (fan-out, claims, attempts, backoff) is in `delivery`.

use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;
use time::{OffsetDateTime, PrimitiveDateTime};
use uuid::Uuid;

use crate::audit::{self, Actor, Target, details};
use crate::error::{StoreError, StoreResult};
use crate::model::*;
use crate::rows::{DeliveryRow, WebhookRow};
use crate::schema::{events, webhook_deliveries, webhook_endpoints};
use crate::tokens::new_token_secret;
use crate::{Page, Store};

/// A webhook endpoint (its secret is never listed).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Webhook {
    pub id: Uuid,
    pub url: String,
    pub events: Vec<String>,
    pub enabled: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl TryFrom<WebhookRow> for Webhook {
    type Error = StoreError;
    fn try_from(r: WebhookRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: parse_id(&r.id)?,
            events: serde_json::from_str(&r.events).map_err(StoreError::corrupt)?,
            url: r.url,
            enabled: r.enabled,
            created_at: from_db(r.created_at),
            updated_at: from_db(r.updated_at),
        })
    }
}

/// One event's delivery to one endpoint (attempted by the worker).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Delivery {
    pub id: Uuid,
    pub endpoint_id: Uuid,
    pub event_id: Uuid,
    pub status: String,
    pub attempts: i32,
    #[serde(with = "time::serde::rfc3339")]
    pub next_attempt_at: OffsetDateTime,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl TryFrom<DeliveryRow> for Delivery {
    type Error = StoreError;
    fn try_from(r: DeliveryRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: parse_id(&r.id)?,
            endpoint_id: parse_id(&r.endpoint_id)?,
            event_id: parse_id(&r.event_id)?,
            status: r.status,
            attempts: r.attempts,
            next_attempt_at: from_db(r.next_attempt_at),
            last_status_code: r.last_status_code,
            last_error: r.last_error,
            created_at: from_db(r.created_at),
            updated_at: from_db(r.updated_at),
        })
    }
}

/// The event types a webhook may subscribe to (SPEC §3).
pub const EVENT_TYPES: [&str; 14] = [
    "license.created",
    "license.assigned",
    "license.activated",
    "license.suspended",
    "license.unsuspended",
    "license.inactivated",
    "license.reactivated",
    "license.expiring_soon",
    "license.expired",
    "license.revoked",
    "license.reminted",
    "license.deleted",
    "activation.created",
    "activation.deactivated",
];

fn check_webhook(url: &str, events: &[String]) -> StoreResult<()> {
    if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() > 2048 {
        return Err(StoreError::invalid(
            "url",
            "must be an http:// or https:// URL of at most 2048 characters",
        ));
    }
    if let Some(bad) = events
        .iter()
        .find(|e| *e != "*" && !EVENT_TYPES.contains(&e.as_str()))
    {
        return Err(StoreError::invalid(
            "events",
            format!("unknown event type {bad:?}"),
        ));
    }
    Ok(())
}

/// The host (and port) of an endpoint URL: what audit entries record, because the rest of a
/// webhook URL (path, query, user info) often carries the receiver's secret token, and every
/// role may read the audit.
pub fn url_host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    host.to_ascii_lowercase()
}

/// What the audit keeps of an endpoint: its host, event filter and state, never the full URL.
fn audit_view(w: &Webhook) -> serde_json::Value {
    json!({"host": url_host(&w.url), "events": w.events, "enabled": w.enabled})
}

/// A new delivery of one event to one endpoint, due at once. `created_at` is the event's time:
/// retries stop [`RETRY_FOR`](crate::delivery::RETRY_FOR) after it.
pub(crate) fn pending_delivery(
    endpoint_id: &str,
    event_id: &str,
    created_at: PrimitiveDateTime,
    now: OffsetDateTime,
) -> DeliveryRow {
    DeliveryRow {
        id: new_id(),
        endpoint_id: endpoint_id.to_owned(),
        event_id: event_id.to_owned(),
        status: "pending".into(),
        attempts: 0,
        next_attempt_at: to_db(now),
        last_status_code: None,
        last_error: None,
        created_at,
        updated_at: to_db(now),
    }
}

impl Store {
    /// Creates a webhook endpoint; returns it with its signing secret, shown once.
    pub fn create_webhook(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        url: &str,
        events: Vec<String>,
    ) -> StoreResult<(Webhook, String)> {
        check_webhook(url, &events)?;
        let mut rng = rand::rng();
        let secret = new_token_secret(&mut rng).replacen("ks_", "whsec_", 1);
        let id = new_id();
        let row = WebhookRow {
            secret_sealed: self
                .sealer()
                .seal(secret.as_bytes(), id.as_bytes(), &mut rng),
            id,
            url: url.to_owned(),
            events: serde_json::to_string(&events).map_err(StoreError::corrupt)?,
            enabled: true,
            created_at: to_db(now),
            updated_at: to_db(now),
        };
        self.write(|c| {
            diesel::insert_into(webhook_endpoints::table)
                .values(&row)
                .execute(c)?;
            let target = Target {
                kind: "webhook",
                id: &row.id,
                key_hint: None,
            };
            audit::record(
                c,
                now,
                actor,
                "webhook.created",
                target,
                details(json!({"host": url_host(&row.url), "events": events})),
            )?;
            Ok((Webhook::try_from(row.clone())?, secret))
        })
    }

    /// Every webhook endpoint.
    pub fn webhooks(&self, page: Page) -> StoreResult<(Vec<Webhook>, i64)> {
        self.conn()?.read(|c| {
            let total = webhook_endpoints::table.count().get_result(c)?;
            let rows: Vec<WebhookRow> = webhook_endpoints::table
                .select(WebhookRow::as_select())
                .order(webhook_endpoints::id.asc())
                .limit(page.limit)
                .offset(page.offset)
                .load(c)?;
            let items = rows
                .into_iter()
                .map(Webhook::try_from)
                .collect::<StoreResult<_>>()?;
            Ok((items, total))
        })
    }

    /// One webhook endpoint.
    pub fn webhook(&self, id: Uuid) -> StoreResult<Webhook> {
        let row: WebhookRow = webhook_endpoints::table
            .find(id.to_string())
            .select(WebhookRow::as_select())
            .first(&mut *self.conn()?)
            .optional()?
            .ok_or(StoreError::NotFound { entity: "webhook" })?;
        Webhook::try_from(row)
    }

    /// An endpoint's deliveries, newest first.
    pub fn webhook_deliveries(&self, id: Uuid, page: Page) -> StoreResult<(Vec<Delivery>, i64)> {
        self.webhook(id)?;
        let endpoint = id.to_string();
        self.conn()?.read(|c| {
            let q = || {
                webhook_deliveries::table
                    .filter(webhook_deliveries::endpoint_id.eq(endpoint.clone()))
            };
            let total = q().count().get_result(c)?;
            let rows: Vec<DeliveryRow> = q()
                .select(DeliveryRow::as_select())
                .order(webhook_deliveries::id.desc())
                .limit(page.limit)
                .offset(page.offset)
                .load(c)?;
            let items = rows
                .into_iter()
                .map(Delivery::try_from)
                .collect::<StoreResult<_>>()?;
            Ok((items, total))
        })
    }

    /// Changes a webhook's URL, event filter or enabled flag.
    pub fn update_webhook(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        id: Uuid,
        url: Option<String>,
        events: Option<Vec<String>>,
        enabled: Option<bool>,
    ) -> StoreResult<Webhook> {
        let id = id.to_string();
        self.write(|c| {
            let mut row: WebhookRow = webhook_endpoints::table
                .find(&id)
                .select(WebhookRow::as_select())
                .first(c)
                .optional()?
                .ok_or(StoreError::NotFound { entity: "webhook" })?;
            let before = Webhook::try_from(row.clone())?;
            if let Some(u) = url {
                row.url = u;
            }
            if let Some(e) = events {
                row.events = serde_json::to_string(&e).map_err(StoreError::corrupt)?;
            }
            if let Some(en) = enabled {
                row.enabled = en;
            }
            let after = Webhook::try_from(row.clone())?;
            check_webhook(&after.url, &after.events)?;
            diesel::update(webhook_endpoints::table.find(&id))
                .set((
                    webhook_endpoints::url.eq(&row.url),
                    webhook_endpoints::events.eq(&row.events),
                    webhook_endpoints::enabled.eq(row.enabled),
                    webhook_endpoints::updated_at.eq(to_db(now)),
                ))
                .execute(c)?;
            let target = Target {
                kind: "webhook",
                id: &id,
                key_hint: None,
            };
            audit::record(
                c,
                now,
                actor,
                "webhook.updated",
                target,
                details(json!({"before": audit_view(&before), "after": audit_view(&after)})),
            )?;
            Ok(after)
        })
    }

    /// Deletes a webhook endpoint and its deliveries.
    pub fn delete_webhook(&self, actor: &Actor, now: OffsetDateTime, id: Uuid) -> StoreResult<()> {
        let id = id.to_string();
        self.write(|c| {
            let n = diesel::delete(webhook_endpoints::table.find(&id)).execute(c)?;
            if n == 0 {
                return Err(StoreError::NotFound { entity: "webhook" });
            }
            let target = Target {
                kind: "webhook",
                id: &id,
                key_hint: None,
            };
            audit::record(c, now, actor, "webhook.deleted", target, JsonObject::new())
        })
    }

    /// Sends a delivery again now, whatever its state (`POST /deliveries/{id}/retry`).
    pub fn retry_delivery(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        id: Uuid,
    ) -> StoreResult<Delivery> {
        let id = id.to_string();
        self.write(|c| {
            let n = diesel::update(webhook_deliveries::table.find(&id))
                .set((
                    webhook_deliveries::status.eq("pending"),
                    webhook_deliveries::next_attempt_at.eq(to_db(now)),
                    webhook_deliveries::updated_at.eq(to_db(now)),
                ))
                .execute(c)?;
            if n == 0 {
                return Err(StoreError::NotFound { entity: "delivery" });
            }
            let target = Target {
                kind: "delivery",
                id: &id,
                key_hint: None,
            };
            audit::record(
                c,
                now,
                actor,
                "delivery.retried",
                target,
                details(json!({})),
            )?;
            let row = webhook_deliveries::table
                .find(&id)
                .select(DeliveryRow::as_select())
                .first(c)?;
            Delivery::try_from(row)
        })
    }

    /// Queues a `webhook.ping` event for one endpoint only (`POST /webhooks/{id}/ping`).
    pub fn ping_webhook(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        id: Uuid,
    ) -> StoreResult<Delivery> {
        let endpoint = id.to_string();
        self.write(|c| {
            webhook_endpoints::table
                .find(&endpoint)
                .select(webhook_endpoints::id)
                .first::<String>(c)
                .optional()?
                .ok_or(StoreError::NotFound { entity: "webhook" })?;
            let mut ev = audit::event_row(
                now,
                "webhook.ping",
                None,
                details(json!({"webhook_id": endpoint})),
            );
            ev.fanned_out = true;
            diesel::insert_into(events::table).values(&ev).execute(c)?;
            let row = pending_delivery(&endpoint, &ev.id, to_db(now), now);
            diesel::insert_into(webhook_deliveries::table)
                .values(&row)
                .execute(c)?;
            let target = Target {
                kind: "webhook",
                id: &endpoint,
                key_hint: None,
            };
            audit::record(c, now, actor, "webhook.pinged", target, details(json!({})))?;
            Delivery::try_from(row)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::url_host;

    #[test]
    fn url_host_drops_path_query_and_user_info() {
        assert_eq!(
            url_host("https://hooks.Example.com/t/s3cret?token=abc"),
            "hooks.example.com"
        );
        assert_eq!(
            url_host("http://user:pw@hooks.example.com:8443#frag"),
            "hooks.example.com:8443"
        );
        assert_eq!(url_host("https://[2001:db8::1]:9/x"), "[2001:db8::1]:9");
    }
}
