//! Sessions of signed-in operators (the cookie's secret is stored only as its SHA-256; idle
//! timeout 12 h, absolute 7 days, `last_seen_at` written at most once a minute) and one-time
//! links (first-operator setup, invitations, password resets), each usable once.

use diesel::prelude::*;
use serde_json::json;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::operators::{self, NewOperator};
use super::schema::{LinkRow, SessionRow, one_time_links, operators as operators_table, sessions};
use super::{ControlStore, Operator, new_secret, record, secret_digest};
use crate::audit::Actor;
use crate::error::{StoreError, StoreResult};
use crate::model::{JsonObject, from_db, new_id, parse_id, to_db};

/// A session ends after this long without a request.
pub const IDLE_TIMEOUT: Duration = Duration::hours(12);
/// A session ends this long after sign-in, however active.
pub const ABSOLUTE_TIMEOUT: Duration = Duration::days(7);
/// `last_seen_at` is written at most this often per session.
const TOUCH_EVERY: Duration = Duration::minutes(1);

/// A signed-in operator's session (never its secret).
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id: Uuid,
    pub operator: Operator,
    pub created_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    /// When the operator last entered the password (sign-in or re-authentication).
    pub reauth_at: OffsetDateTime,
}

/// What a one-time link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    /// The first operator chooses an email and password (only while no operator exists).
    Setup,
    /// An invited operator, or one whose password was reset, sets a password.
    SetPassword,
}

impl LinkPurpose {
    const fn as_str(self) -> &'static str {
        match self {
            Self::Setup => "setup",
            Self::SetPassword => "set_password",
        }
    }
}

impl ControlStore {
    /// Signs `operator` in: a new session (returned with its secret, which is not kept), the
    /// login time, and a `login.succeeded` entry in the control audit.
    pub fn start_session(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        operator: Uuid,
    ) -> StoreResult<(Session, String)> {
        let secret = new_secret(&mut rand::rng());
        let row = SessionRow {
            id: new_id(),
            secret_digest: secret_digest(&secret),
            operator_id: operator.to_string(),
            created_at: to_db(now),
            last_seen_at: to_db(now),
            reauth_at: to_db(now),
            ip: actor.ip.clone(),
        };
        let session = self.conn()?.write(|c| {
            diesel::insert_into(sessions::table)
                .values(&row)
                .execute(c)?;
            diesel::update(operators_table::table.find(&row.operator_id))
                .set(operators_table::last_login_at.eq(Some(to_db(now))))
                .execute(c)?;
            record(
                c,
                now,
                actor,
                "login.succeeded",
                Some(&row.operator_id),
                JsonObject::new(),
            )?;
            session_of(c, &row)
        })?;
        Ok((session, secret))
    }

    /// The live session whose cookie secret is `secret`, or `None` (unknown, idle too long,
    /// too old, or its operator disabled; an ended session's row is deleted).
    pub fn session(&self, secret: &str, now: OffsetDateTime) -> StoreResult<Option<Session>> {
        let c = &mut *self.conn()?;
        let row: Option<SessionRow> = sessions::table
            .filter(sessions::secret_digest.eq(secret_digest(secret)))
            .select(SessionRow::as_select())
            .first(c)
            .optional()?;
        let Some(row) = row else { return Ok(None) };
        let idle = now - from_db(row.last_seen_at) >= IDLE_TIMEOUT;
        let old = now - from_db(row.created_at) >= ABSOLUTE_TIMEOUT;
        let session = session_of(c, &row)?;
        if idle || old || session.operator.disabled {
            diesel::delete(sessions::table.find(&row.id)).execute(c)?;
            return Ok(None);
        }
        if now - session.last_seen_at >= TOUCH_EVERY {
            diesel::update(sessions::table.find(&row.id))
                .set(sessions::last_seen_at.eq(to_db(now)))
                .execute(c)?;
        }
        Ok(Some(session))
    }

    /// Ends a session (sign-out).
    pub fn end_session(&self, actor: &Actor, now: OffsetDateTime, id: Uuid) -> StoreResult<()> {
        let id = id.to_string();
        self.conn()?.write(|c| {
            let operator: Option<String> = sessions::table
                .find(&id)
                .select(sessions::operator_id)
                .first(c)
                .optional()?;
            diesel::delete(sessions::table.find(&id)).execute(c)?;
            record(
                c,
                now,
                actor,
                "logout",
                operator.as_deref(),
                JsonObject::new(),
            )
        })
    }

    /// Records a password entry in this session (re-authentication for `reveal` and `preview`).
    pub fn reauthenticated(&self, actor: &Actor, now: OffsetDateTime, id: Uuid) -> StoreResult<()> {
        let id = id.to_string();
        self.conn()?.write(|c| {
            let n = diesel::update(sessions::table.find(&id))
                .set(sessions::reauth_at.eq(to_db(now)))
                .execute(c)?;
            if n == 0 {
                return Err(StoreError::NotFound { entity: "session" });
            }
            record(c, now, actor, "reauthenticated", None, JsonObject::new())
        })
    }

    /// A one-time link secret for `purpose`, valid for `ttl`. A new setup link replaces any
    /// unused one.
    pub fn create_link(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        purpose: LinkPurpose,
        operator: Option<Uuid>,
        ttl: Duration,
    ) -> StoreResult<String> {
        let secret = new_secret(&mut rand::rng());
        let row = LinkRow {
            secret_digest: secret_digest(&secret),
            purpose: purpose.as_str().to_owned(),
            operator_id: operator.map(|o| o.to_string()),
            created_at: to_db(now),
            expires_at: to_db(now + ttl),
            used_at: None,
        };
        self.conn()?.write(|c| {
            // A new link replaces the unused one it would compete with: the setup link, or this
            // operator's set-password link.
            match (purpose, &row.operator_id) {
                (LinkPurpose::Setup, _) => {
                    diesel::delete(
                        one_time_links::table
                            .filter(one_time_links::purpose.eq(purpose.as_str()))
                            .filter(one_time_links::used_at.is_null()),
                    )
                    .execute(c)?;
                }
                (LinkPurpose::SetPassword, Some(id)) => drop_password_links(c, id)?,
                (LinkPurpose::SetPassword, None) => {}
            }
            diesel::insert_into(one_time_links::table)
                .values(&row)
                .execute(c)?;
            let details = JsonObject::from_iter([("purpose".to_owned(), json!(purpose.as_str()))]);
            record(
                c,
                now,
                actor,
                "link.created",
                row.operator_id.as_deref(),
                details,
            )
        })?;
        Ok(secret)
    }

    /// Uses the first-operator setup link: creates `new` as the first operator. Refused when
    /// the link is unknown, used or expired (`LINK_INVALID`) or an operator exists already.
    pub fn setup_first_operator(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        secret: &str,
        new: NewOperator,
    ) -> StoreResult<Operator> {
        self.conn()?.write(|c| {
            consume_link(c, now, secret, LinkPurpose::Setup)?;
            let existing: i64 = operators_table::table.count().get_result(c)?;
            if existing > 0 {
                return Err(StoreError::LinkInvalid);
            }
            operators::insert(c, actor, now, new)
        })
    }

    /// Uses an invitation or password-reset link: sets the operator's password hash and ends
    /// its sessions.
    pub fn use_password_link(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        secret: &str,
        password_hash: &str,
    ) -> StoreResult<Operator> {
        self.conn()?.write(|c| {
            let link = consume_link(c, now, secret, LinkPurpose::SetPassword)?;
            let id = link.operator_id.ok_or(StoreError::LinkInvalid)?;
            operators::set_password_in(c, actor, now, &id, password_hash, None)?;
            operators::load(c, &id)
        })
    }
}

/// Deletes the unused set-password links of operator `id` (a newer link, a password set, or the
/// operator disabled makes them void).
pub(crate) fn drop_password_links(c: &mut crate::db::DbConn, id: &str) -> StoreResult<()> {
    diesel::delete(
        one_time_links::table
            .filter(one_time_links::operator_id.eq(id))
            .filter(one_time_links::purpose.eq(LinkPurpose::SetPassword.as_str()))
            .filter(one_time_links::used_at.is_null()),
    )
    .execute(c)?;
    Ok(())
}

/// Marks an unused, unexpired link of `purpose` used; refuses any other (`LINK_INVALID`).
fn consume_link(
    c: &mut crate::db::DbConn,
    now: OffsetDateTime,
    secret: &str,
    purpose: LinkPurpose,
) -> StoreResult<LinkRow> {
    let digest = secret_digest(secret);
    let row: Option<LinkRow> = one_time_links::table
        .find(&digest)
        .select(LinkRow::as_select())
        .first(c)
        .optional()?;
    let usable = row.filter(|r| {
        r.purpose == purpose.as_str() && r.used_at.is_none() && from_db(r.expires_at) > now
    });
    let row = usable.ok_or(StoreError::LinkInvalid)?;
    let n = diesel::update(
        one_time_links::table
            .find(&digest)
            .filter(one_time_links::used_at.is_null()),
    )
    .set(one_time_links::used_at.eq(Some(to_db(now))))
    .execute(c)?;
    if n == 0 {
        return Err(StoreError::LinkInvalid);
    }
    Ok(row)
}

fn session_of(c: &mut crate::db::DbConn, row: &SessionRow) -> StoreResult<Session> {
    Ok(Session {
        id: parse_id(&row.id)?,
        operator: operators::load(c, &row.operator_id)?,
        created_at: from_db(row.created_at),
        last_seen_at: from_db(row.last_seen_at),
        reauth_at: from_db(row.reauth_at),
    })
}
