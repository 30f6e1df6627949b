//! Email from the durable outbox (SPEC §14), the store's side. The mail worker turns new outbox
//! events into mail deliveries for the license's customer (at most one per event and
//! recipient: a unique index), claims due deliveries like the webhook worker does (a lease
//! pushed ahead, `FOR UPDATE SKIP LOCKED` on PostgreSQL), and records every attempt: sent,
//! retried with backoff, or failed 24 hours after it was queued. Nothing here sends mail or
//! runs on a request path.
//!
//! A delivery stores no secret in the clear: the license key of a `key_assigned` mail is read
//! from the license's ciphertext when the mail is rendered, and a portal sign-in link is sealed
//! with the master key (bound to the delivery id) and wiped once the mail is sent or given up.

use std::collections::{BTreeMap, HashMap};

use diesel::prelude::*;
use serde::Serialize;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::db::DbConn;
use crate::delivery::{RETRY_FOR, backoff};
use crate::error::{StoreError, StoreResult};
use crate::mail_templates::{MailKind, PORTAL_LINK_MINUTES};
use crate::model::{expiry_from_db, from_db, new_id, parse_id, parse_json, to_db};
use crate::rows::{CustomerRow, EventRow, LicenseRow};
use crate::schema::{customers, events, licenses, mail_attempts, mail_deliveries, products};
use crate::{Page, Store};

/// A mail ready to render and send.
#[derive(Clone)]
pub struct OutgoingMail {
    pub id: Uuid,
    pub kind: MailKind,
    pub recipient: String,
    /// Placeholder values (SPEC §14 templates): what the kind's templates may use. `None` when
    /// what the mail was about is gone (a deleted license): the mail is given up.
    pub vars: Option<BTreeMap<&'static str, String>>,
}

impl std::fmt::Debug for OutgoingMail {
    // `vars` may hold a full key or a sign-in link.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutgoingMail")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// What one attempt to send gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailAttempt {
    pub latency_ms: i32,
    /// `None` is success, else the error's class (`connect`, `timeout`, `tls`, `smtp 550`, ...;
    /// never a server's text).
    pub error: Option<String>,
    /// Trying again cannot help (a 5xx answer, a subject that is gone): failed at once.
    pub permanent: bool,
}

impl MailAttempt {
    /// A mail given up without an attempt: what it was about is gone.
    pub fn gone() -> Self {
        Self {
            latency_ms: 0,
            error: Some(GONE.into()),
            permanent: true,
        }
    }
}

/// A mail delivery as an operator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MailDelivery {
    pub id: Uuid,
    /// `key_assigned`, `expiring_soon`, `expired`, `suspended`, `revoked` or `portal_link`.
    pub kind: String,
    pub recipient: String,
    pub license_id: Option<Uuid>,
    pub event_id: Option<Uuid>,
    /// `pending` (queued or retrying), `sent` or `failed`.
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub next_attempt_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub sent_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = mail_deliveries, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
struct MailRow {
    id: String,
    kind: String,
    event_id: Option<String>,
    license_id: Option<String>,
    customer_id: Option<String>,
    recipient: String,
    payload_sealed: Option<Vec<u8>>,
    status: String,
    attempts: i32,
    next_attempt_at: time::PrimitiveDateTime,
    last_error: Option<String>,
    created_at: time::PrimitiveDateTime,
    sent_at: Option<time::PrimitiveDateTime>,
}

impl TryFrom<MailRow> for MailDelivery {
    type Error = StoreError;
    fn try_from(r: MailRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: parse_id(&r.id)?,
            kind: r.kind,
            recipient: r.recipient,
            license_id: r.license_id.as_deref().map(parse_id).transpose()?,
            event_id: r.event_id.as_deref().map(parse_id).transpose()?,
            status: r.status,
            attempts: r.attempts,
            last_error: r.last_error,
            next_attempt_at: from_db(r.next_attempt_at),
            created_at: from_db(r.created_at),
            sent_at: r.sent_at.map(from_db),
        })
    }
}

/// A mail to queue.
pub(crate) struct NewMail<'a> {
    pub kind: MailKind,
    pub event_id: Option<&'a str>,
    pub license_id: Option<&'a str>,
    pub customer_id: Option<&'a str>,
    pub recipient: &'a str,
}

/// Queues one mail in the caller's transaction; `payload` is sealed to the new delivery's id.
/// Returns the delivery id.
pub(crate) fn queue(
    c: &mut DbConn,
    sealer: &license_core::Sealer,
    now: OffsetDateTime,
    mail: NewMail<'_>,
    payload: Option<&[u8]>,
) -> StoreResult<String> {
    let id = new_id();
    let sealed = payload.map(|p| sealer.seal(p, id.as_bytes(), &mut rand::rng()));
    diesel::insert_into(mail_deliveries::table)
        .values((
            mail_deliveries::id.eq(&id),
            mail_deliveries::kind.eq(mail.kind.as_str()),
            mail_deliveries::event_id.eq(mail.event_id),
            mail_deliveries::license_id.eq(mail.license_id),
            mail_deliveries::customer_id.eq(mail.customer_id),
            mail_deliveries::recipient.eq(mail.recipient),
            mail_deliveries::payload_sealed.eq(sealed),
            mail_deliveries::status.eq("pending"),
            mail_deliveries::attempts.eq(0),
            mail_deliveries::next_attempt_at.eq(to_db(now)),
            mail_deliveries::created_at.eq(to_db(now)),
            mail_deliveries::updated_at.eq(to_db(now)),
        ))
        .execute(c)?;
    Ok(id)
}

fn date(t: Option<OffsetDateTime>) -> String {
    t.map_or_else(
        || "no expiry".to_owned(),
        |t| format!("{}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day()),
    )
}

impl Store {
    /// Turns up to `limit` outbox events not yet seen by the mail worker into mail deliveries
    /// for the license's customer, and marks the events mailed, in one transaction. Events that
    /// send no mail (other types, no customer, `key_assigned` while `email_key_on_assign` is
    /// off, or queued more than a day ago) are only marked. Returns the events handled.
    pub fn fan_out_mail(&self, now: OffsetDateTime, limit: i64) -> StoreResult<usize> {
        let settings = self.settings()?;
        self.write(|c| {
            let ids = c.claim_unmailed_events(limit)?;
            if ids.is_empty() {
                return Ok(0);
            }
            let evs: Vec<EventRow> = events::table
                .filter(events::id.eq_any(&ids))
                .select(EventRow::as_select())
                .load(c)?;
            for e in &evs {
                let Some(kind) = MailKind::for_event(&e.event_type) else {
                    continue;
                };
                if (kind == MailKind::KeyAssigned && !settings.email_key_on_assign)
                    || now - from_db(e.created_at) > RETRY_FOR
                {
                    continue;
                }
                let Some(license_id) = &e.license_id else {
                    continue;
                };
                // The customer the event was about (a later reassignment does not redirect it).
                let customer_id = parse_json(&e.data)?
                    .get("customer_id")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned);
                let Some(customer_id) = customer_id else {
                    continue;
                };
                let customer: Option<CustomerRow> = customers::table
                    .find(&customer_id)
                    .select(CustomerRow::as_select())
                    .first(c)
                    .optional()?;
                let Some(customer) = customer else { continue };
                let mail = NewMail {
                    kind,
                    event_id: Some(&e.id),
                    license_id: Some(license_id),
                    customer_id: Some(&customer.id),
                    recipient: &customer.email,
                };
                queue(c, self.sealer(), now, mail, None)?;
            }
            diesel::update(events::table.filter(events::id.eq_any(&ids)))
                .set(events::mailed.eq(true))
                .execute(c)?;
            Ok(ids.len())
        })
    }

    /// Claims up to `limit` due mail deliveries (pushing their next attempt `lease` ahead, so no
    /// other worker sends them meanwhile) and returns them with their placeholder values, the
    /// portal's address being `portal_url`.
    pub fn claim_mail(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        limit: i64,
        portal_url: &str,
    ) -> StoreResult<Vec<OutgoingMail>> {
        self.write(|c| {
            let ids = c.claim_due_mail(to_db(now), limit)?;
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            diesel::update(mail_deliveries::table.filter(mail_deliveries::id.eq_any(&ids)))
                .set(mail_deliveries::next_attempt_at.eq(to_db(now + lease)))
                .execute(c)?;
            let rows: Vec<MailRow> = mail_deliveries::table
                .filter(mail_deliveries::id.eq_any(&ids))
                .order(mail_deliveries::created_at.asc())
                .select(MailRow::as_select())
                .load(c)?;
            let context = Context::load(c, &rows)?;
            rows.into_iter()
                .map(|r| {
                    let kind = MailKind::parse(&r.kind)
                        .ok_or_else(|| StoreError::corrupt(format!("mail kind {}", r.kind)))?;
                    let vars = context.vars(self, kind, &r, portal_url, now)?;
                    Ok(OutgoingMail {
                        id: parse_id(&r.id)?,
                        kind,
                        recipient: r.recipient,
                        vars,
                    })
                })
                .collect()
        })
    }

    /// Pushes the claim on mails still being sent `lease` ahead of `now` (the worker's heartbeat
    /// while a slow relay answers), so no other worker claims and sends them again.
    pub fn renew_mail_claims(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        ids: &[Uuid],
    ) -> StoreResult<usize> {
        if ids.is_empty() {
            return Ok(0);
        }
        let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
        self.write(|c| {
            Ok(diesel::update(
                mail_deliveries::table
                    .filter(mail_deliveries::id.eq_any(&ids))
                    .filter(mail_deliveries::status.eq("pending")),
            )
            .set(mail_deliveries::next_attempt_at.eq(to_db(now + lease)))
            .execute(c)?)
        })
    }

    /// Deletes mail deliveries (and their attempts) that ended more than `keep` ago: the list
    /// an operator reads stays bounded. Returns how many went.
    pub fn purge_mail(&self, now: OffsetDateTime, keep: Duration) -> StoreResult<usize> {
        let before = to_db(now - keep);
        self.write(|c| {
            let old = mail_deliveries::table
                .filter(mail_deliveries::status.ne("pending"))
                .filter(mail_deliveries::updated_at.lt(before))
                .select(mail_deliveries::id);
            diesel::delete(mail_attempts::table.filter(mail_attempts::delivery_id.eq_any(old)))
                .execute(c)?;
            Ok(diesel::delete(
                mail_deliveries::table
                    .filter(mail_deliveries::status.ne("pending"))
                    .filter(mail_deliveries::updated_at.lt(before)),
            )
            .execute(c)?)
        })
    }

    /// Records a batch of attempts in one transaction: each delivery `sent`, rescheduled with
    /// backoff, or `failed` once a day has passed since it was queued (or when there was nothing
    /// left to send). A sealed payload is wiped when the delivery ends. Only deliveries still
    /// pending change, so a worker whose claim lapsed cannot undo another's `sent`.
    pub fn record_mail_attempts(
        &self,
        now: OffsetDateTime,
        attempts: &[(Uuid, MailAttempt)],
    ) -> StoreResult<()> {
        if attempts.is_empty() {
            return Ok(());
        }
        self.write(|c| {
            for (id, attempt) in attempts {
                let id = id.to_string();
                let Some((tries, created)) = mail_deliveries::table
                    .find(&id)
                    .filter(mail_deliveries::status.eq("pending"))
                    .select((mail_deliveries::attempts, mail_deliveries::created_at))
                    .first::<(i32, time::PrimitiveDateTime)>(c)
                    .optional()?
                else {
                    continue;
                };
                diesel::insert_into(mail_attempts::table)
                    .values((
                        mail_attempts::id.eq(new_id()),
                        mail_attempts::delivery_id.eq(&id),
                        mail_attempts::at.eq(to_db(now)),
                        mail_attempts::latency_ms.eq(attempt.latency_ms),
                        mail_attempts::error.eq(&attempt.error),
                    ))
                    .execute(c)?;
                let tries = tries + 1;
                let (status, next) = match &attempt.error {
                    None => ("sent", now),
                    Some(_) if attempt.permanent || now - from_db(created) >= RETRY_FOR => {
                        ("failed", now)
                    }
                    // Half the webhooks' backoff: 10 s, 20 s, 40 s ... up to 30 minutes.
                    Some(_) => ("pending", now + backoff(tries, &mut rand::rng()) / 2),
                };
                let ended = status != "pending";
                let sent_at = (status == "sent").then(|| to_db(now));
                let target = mail_deliveries::table
                    .find(&id)
                    .filter(mail_deliveries::status.eq("pending"));
                diesel::update(target)
                    .set((
                        mail_deliveries::status.eq(status),
                        mail_deliveries::attempts.eq(tries),
                        mail_deliveries::next_attempt_at.eq(to_db(next)),
                        mail_deliveries::last_error.eq(&attempt.error),
                        mail_deliveries::updated_at.eq(to_db(now)),
                        mail_deliveries::sent_at.eq(sent_at),
                    ))
                    .execute(c)?;
                if ended {
                    diesel::update(mail_deliveries::table.find(&id))
                        .set(mail_deliveries::payload_sealed.eq(None::<Vec<u8>>))
                        .execute(c)?;
                }
            }
            Ok(())
        })
    }

    /// A customer's mail deliveries, newest first.
    pub fn customer_mail(
        &self,
        customer: Uuid,
        page: Page,
    ) -> StoreResult<(Vec<MailDelivery>, i64)> {
        let id = customer.to_string();
        self.conn()?.read(|c| {
            crate::customers::load_customer(c, &id)?;
            let q = || mail_deliveries::table.filter(mail_deliveries::customer_id.eq(&id));
            let total = q().count().get_result(c)?;
            let rows: Vec<MailRow> = q()
                .order((
                    mail_deliveries::created_at.desc(),
                    mail_deliveries::id.desc(),
                ))
                .limit(page.limit)
                .offset(page.offset)
                .select(MailRow::as_select())
                .load(c)?;
            let items = rows
                .into_iter()
                .map(MailDelivery::try_from)
                .collect::<StoreResult<_>>()?;
            Ok((items, total))
        })
    }
}

/// The error class of a mail whose subject is gone (its license deleted): given up at once.
pub const GONE: &str = "gone";

/// What a batch of claimed mails refers to, loaded with one query per table.
struct Context {
    licenses: HashMap<String, LicenseRow>,
    /// Customer id → (name, email now).
    customers: HashMap<String, (String, String)>,
    products: HashMap<String, String>,
}

impl Context {
    fn load(c: &mut DbConn, rows: &[MailRow]) -> StoreResult<Self> {
        let license_ids: Vec<&String> = rows.iter().filter_map(|r| r.license_id.as_ref()).collect();
        let customer_ids: Vec<&String> =
            rows.iter().filter_map(|r| r.customer_id.as_ref()).collect();
        let licenses: HashMap<String, LicenseRow> = licenses::table
            .filter(licenses::id.eq_any(&license_ids))
            .select(LicenseRow::as_select())
            .load(c)?
            .into_iter()
            .map(|l| (l.id.clone(), l))
            .collect();
        let product_ids: Vec<&String> = licenses.values().map(|l| &l.product_id).collect();
        let products = products::table
            .filter(products::id.eq_any(&product_ids))
            .select((products::id, products::name))
            .load::<(String, String)>(c)?
            .into_iter()
            .collect();
        let customers = customers::table
            .filter(customers::id.eq_any(&customer_ids))
            .select((customers::id, customers::name, customers::email))
            .load::<(String, String, String)>(c)?
            .into_iter()
            .map(|(id, name, email)| (id, (name, email)))
            .collect();
        Ok(Self {
            licenses,
            customers,
            products,
        })
    }

    fn vars(
        &self,
        store: &Store,
        kind: MailKind,
        r: &MailRow,
        portal_url: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Option<BTreeMap<&'static str, String>>> {
        // A mail is given up (`None`) rather than sent somewhere it was not meant for: its
        // customer's address changed, the license moved to someone else, or it is too old.
        let Some((name, email)) = r.customer_id.as_ref().and_then(|id| self.customers.get(id))
        else {
            return Ok(None);
        };
        let age = now - from_db(r.created_at);
        if email != &r.recipient
            || age > RETRY_FOR
            || (kind == MailKind::PortalLink && age > Duration::minutes(PORTAL_LINK_MINUTES))
        {
            return Ok(None);
        }
        let mut v = BTreeMap::new();
        v.insert("customer_name", name.clone());
        v.insert("portal_url", portal_url.to_owned());
        if kind == MailKind::PortalLink {
            let Some(sealed) = &r.payload_sealed else {
                return Ok(None);
            };
            let link = store
                .sealer()
                .open(sealed, r.id.as_bytes())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| StoreError::corrupt("mail payload does not open"))?;
            v.insert("link", link);
            v.insert(
                "minutes",
                crate::mail_templates::PORTAL_LINK_MINUTES.to_string(),
            );
            return Ok(Some(v));
        }
        let Some(l) = r.license_id.as_ref().and_then(|id| self.licenses.get(id)) else {
            return Ok(None);
        };
        if l.customer_id != r.customer_id {
            return Ok(None);
        }
        let product = self
            .products
            .get(&l.product_id)
            .cloned()
            .unwrap_or_default();
        v.insert("product_name", product);
        v.insert("key_display", l.key_display.clone());
        let expires = expiry_from_db(l.expires_at);
        v.insert("expires", date(expires));
        if let Some(t) = expires {
            // Whole days left, rounded up: "in 10 days" for a license 9.5 days from its end.
            let days = ((t - now).whole_hours().max(0) + 23) / 24;
            v.insert("days", days.to_string());
        }
        if kind == MailKind::KeyAssigned {
            // A key that no longer works is not mailed (revoked or reminted meanwhile).
            if matches!(l.status.as_str(), "revoked" | "reminted") {
                return Ok(None);
            }
            let key = license_core::reveal_key(store.sealer(), parse_id(&l.id)?, &l.key_ciphertext)
                .map_err(|_| StoreError::corrupt("key ciphertext does not open"))?;
            v.insert("key", key.expose().to_owned());
        }
        Ok(Some(v))
    }
}
