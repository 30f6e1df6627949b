//! The audit log and the event outbox. Both are written by the same transaction as the change
//! they record; these functions never open a transaction of their own.

use diesel::prelude::*;
use time::OffsetDateTime;

use crate::db::DbConn;
use crate::error::StoreResult;
use crate::model::{AuditEntry, Event, JsonObject, json_text, new_id, to_db};
use crate::rows::{AuditRow, EventRow};
use crate::schema::{audit_entries, events};
use crate::{Page, Store};

/// Who is making a change, and from which request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// A token's name, or `system`, `sweeper`, `abuse-detector`.
    pub name: String,
    /// The request id (or a job id for background work).
    pub request_id: String,
    /// Client IP, when known.
    pub ip: Option<String>,
}

/// Actor names Keysmith itself uses (SPEC §3); no token may take one.
pub const RESERVED_ACTORS: &[&str] = &["system", "abuse-detector", "sweeper"];

impl Actor {
    /// Keysmith itself (lazy expiry on validate, customer-facing API calls).
    pub fn system(request_id: impl Into<String>) -> Self {
        Self::named("system", request_id)
    }

    /// An actor by name.
    pub fn named(name: impl Into<String>, request_id: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            request_id: request_id.into(),
            ip: None,
        }
    }

    /// The same actor with a client IP.
    pub fn with_ip(mut self, ip: Option<String>) -> Self {
        self.ip = ip;
        self
    }
}

/// The details object of an audit entry or event, from a `json!({...})` literal (anything but an
/// object gives an empty one).
pub(crate) fn details(pairs: serde_json::Value) -> JsonObject {
    match pairs {
        serde_json::Value::Object(m) => m,
        _ => JsonObject::new(),
    }
}

/// What an audit entry is about.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'a> {
    pub kind: &'static str,
    pub id: &'a str,
    pub key_hint: Option<&'a str>,
}

/// Appends one audit entry.
pub(crate) fn record(
    conn: &mut DbConn,
    now: OffsetDateTime,
    actor: &Actor,
    action: &str,
    target: Target<'_>,
    details: JsonObject,
) -> StoreResult<()> {
    let row = AuditRow {
        id: new_id(),
        at: to_db(now),
        actor: actor.name.clone(),
        action: action.to_owned(),
        target_type: target.kind.to_owned(),
        target_id: target.id.to_owned(),
        key_hint: target.key_hint.map(str::to_owned),
        details: json_text(&details),
        request_id: actor.request_id.clone(),
        ip: actor.ip.clone(),
    };
    diesel::insert_into(audit_entries::table)
        .values(&row)
        .execute(conn)?;
    Ok(())
}

/// Appends one outbox event.
pub(crate) fn emit(
    conn: &mut DbConn,
    now: OffsetDateTime,
    event_type: &str,
    license_id: Option<&str>,
    data: JsonObject,
) -> StoreResult<()> {
    diesel::insert_into(events::table)
        .values(&event_row(now, event_type, license_id, data))
        .execute(conn)?;
    Ok(())
}

pub(crate) fn event_row(
    now: OffsetDateTime,
    event_type: &str,
    license_id: Option<&str>,
    data: JsonObject,
) -> EventRow {
    EventRow {
        id: new_id(),
        event_type: event_type.to_owned(),
        license_id: license_id.map(str::to_owned),
        data: json_text(&data),
        created_at: to_db(now),
        fanned_out: false,
        mailed: false,
    }
}

/// Filters of `GET /audit`.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub target_id: Option<String>,
    pub action: Option<String>,
    pub actor: Option<String>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
}

/// Filters of `GET /events`.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub event_type: Option<String>,
    pub license_id: Option<String>,
}

impl Store {
    /// Audit entries, newest first.
    pub fn audit_log(
        &self,
        filter: &AuditFilter,
        page: Page,
    ) -> StoreResult<(Vec<AuditEntry>, i64)> {
        use audit_entries::dsl as a;
        let query = || {
            let mut q = a::audit_entries.into_boxed();
            if let Some(t) = &filter.target_id {
                q = q.filter(a::target_id.eq(t.clone()));
            }
            if let Some(x) = &filter.action {
                q = q.filter(a::action.eq(x.clone()));
            }
            if let Some(x) = &filter.actor {
                q = q.filter(a::actor.eq(x.clone()));
            }
            if let Some(t) = filter.since {
                q = q.filter(a::at.ge(to_db(t)));
            }
            if let Some(t) = filter.until {
                q = q.filter(a::at.lt(to_db(t)));
            }
            q
        };
        self.conn()?.read(|c| {
            let total = query().count().get_result(c)?;
            let rows: Vec<AuditRow> = query()
                .order((a::at.desc(), a::id.desc()))
                .limit(page.limit)
                .offset(page.offset)
                .load(c)?;
            let items = rows
                .into_iter()
                .map(AuditEntry::try_from)
                .collect::<StoreResult<_>>()?;
            Ok((items, total))
        })
    }

    /// Outbox events, newest first.
    pub fn events(&self, filter: &EventFilter, page: Page) -> StoreResult<(Vec<Event>, i64)> {
        use events::dsl as e;
        let query = || {
            let mut q = e::events.into_boxed();
            if let Some(t) = &filter.event_type {
                q = q.filter(e::event_type.eq(t.clone()));
            }
            if let Some(l) = &filter.license_id {
                q = q.filter(e::license_id.eq(l.clone()));
            }
            q
        };
        self.conn()?.read(|c| {
            let total = query().count().get_result(c)?;
            let rows: Vec<EventRow> = query()
                .order(e::id.desc())
                .limit(page.limit)
                .offset(page.offset)
                .load(c)?;
            let items = rows
                .into_iter()
                .map(Event::try_from)
                .collect::<StoreResult<_>>()?;
            Ok((items, total))
        })
    }
}
