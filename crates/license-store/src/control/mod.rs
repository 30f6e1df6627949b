//! The control database (SPEC §11): what is not per environment — operators and their role in
//! each environment, their sessions, one-time links (first-operator setup, invitations, password
//! resets) and the control audit of logins and operator changes. One per deployment, on SQLite
//! or PostgreSQL like the environments, with its own migrations (`migrations/control/`).
//!
//! Passwords arrive here already hashed and TOTP codes already checked: this module stores and
//! decides, it never sees a password.

use std::collections::BTreeMap;
use std::sync::Arc;

use diesel::prelude::*;
use license_core::{MasterKey, Sealer};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Page;
use crate::audit::Actor;
use crate::db::{self, DbConn, PoolOptions, Schema, Target};
use crate::error::{StoreError, StoreResult};
use crate::model::{JsonObject, from_db, json_text, new_id, parse_id, parse_json, to_db};
use crate::tokens::Role;

mod operators;
pub(crate) mod schema;
mod sessions;

pub use operators::{LoginRecord, NewOperator, OperatorPatch};
pub use sessions::{ABSOLUTE_TIMEOUT, IDLE_TIMEOUT, LinkPurpose, Session};

use schema::{ControlAuditRow, control_audit};

/// The control database.
#[derive(Clone)]
pub struct ControlStore {
    pool: db::Pool,
    sealer: Arc<Sealer>,
    target: Arc<Target>,
}

impl std::fmt::Debug for ControlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlStore")
            .field("postgres", &self.target.is_postgres())
            .finish_non_exhaustive()
    }
}

/// An operator as listed and returned (never a password hash or a TOTP secret).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Operator {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub disabled: bool,
    /// Whether a password is set (an invited operator has none until the invitation is used).
    pub password_set: bool,
    pub totp_enabled: bool,
    /// The operator's role in each environment; no entry means no access to it.
    pub roles: BTreeMap<String, Role>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_login_at: Option<OffsetDateTime>,
}

impl Operator {
    /// The audit actor name of this operator: `operator:<email>`.
    pub fn actor_name(&self) -> String {
        format!("operator:{}", self.email)
    }
}

/// An entry of the control audit.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ControlAuditEntry {
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub actor: String,
    pub action: String,
    pub target_id: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub details: JsonObject,
    pub request_id: String,
    pub ip: Option<String>,
}

/// A fresh random secret (256 bits, hex) for a session cookie or a one-time link.
pub fn new_secret(rng: &mut impl RngCore) -> String {
    let mut b = [0u8; 32];
    rng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// What is stored of a secret: its SHA-256.
pub(crate) fn secret_digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

impl ControlStore {
    /// Opens the control database at `url` (`sqlite://path` or `postgres://...`): migrates,
    /// then pools.
    pub fn open(url: &str, master: &MasterKey) -> StoreResult<Self> {
        let target = Target::parse(url)?;
        let options = PoolOptions::for_target(&target);
        let pool = db::connect_schema(&target, options, Schema::Control)?;
        Ok(Self {
            pool,
            sealer: Arc::new(Sealer::new(master)),
            target: Arc::new(target),
        })
    }

    /// Whether it lives on PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.target.is_postgres()
    }

    pub(crate) fn conn(&self) -> StoreResult<db::PooledConn> {
        Ok(self.pool.get()?)
    }

    /// Appends an entry to the control audit (for events that change nothing else, such as a
    /// failed login).
    pub fn audit(
        &self,
        now: OffsetDateTime,
        actor: &Actor,
        action: &str,
        target_id: Option<Uuid>,
        details: JsonObject,
    ) -> StoreResult<()> {
        let target = target_id.map(|t| t.to_string());
        record(
            &mut *self.conn()?,
            now,
            actor,
            action,
            target.as_deref(),
            details,
        )
    }

    /// The control audit, newest first.
    pub fn control_audit(&self, page: Page) -> StoreResult<(Vec<ControlAuditEntry>, i64)> {
        let c = &mut *self.conn()?;
        let total: i64 = control_audit::table.count().get_result(c)?;
        let rows: Vec<ControlAuditRow> = control_audit::table
            .select(ControlAuditRow::as_select())
            .order(control_audit::id.desc())
            .limit(page.limit)
            .offset(page.offset)
            .load(c)?;
        let items = rows
            .into_iter()
            .map(|r| {
                Ok(ControlAuditEntry {
                    id: parse_id(&r.id)?,
                    at: from_db(r.at),
                    actor: r.actor,
                    action: r.action,
                    target_id: r.target_id,
                    details: parse_json(&r.details)?,
                    request_id: r.request_id,
                    ip: r.ip,
                })
            })
            .collect::<StoreResult<_>>()?;
        Ok((items, total))
    }
}

/// Appends one control audit entry in the caller's transaction.
pub(crate) fn record(
    c: &mut DbConn,
    now: OffsetDateTime,
    actor: &Actor,
    action: &str,
    target_id: Option<&str>,
    details: JsonObject,
) -> StoreResult<()> {
    let row = ControlAuditRow {
        id: new_id(),
        at: to_db(now),
        actor: actor.name.clone(),
        action: action.to_owned(),
        target_id: target_id.map(str::to_owned),
        details: json_text(&details),
        request_id: actor.request_id.clone(),
        ip: actor.ip.clone(),
    };
    diesel::insert_into(control_audit::table)
        .values(&row)
        .execute(c)?;
    Ok(())
}

fn role_of(s: &str) -> StoreResult<Role> {
    Role::parse(s).ok_or_else(|| StoreError::corrupt(format!("role {s:?}")))
}
