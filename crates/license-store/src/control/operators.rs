//! Operators: create, list, edit roles, disable (never leaving an environment without an
//! enabled admin), passwords (hashes only) and TOTP secrets (sealed with the master key).

use std::collections::BTreeMap;

use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::schema::{OperatorRow, RoleRow, operator_roles, operators, sessions};
use super::{ControlStore, Operator, record, role_of};
use crate::audit::Actor;
use crate::db::DbConn;
use crate::error::{StoreError, StoreResult};
use crate::model::{JsonObject, from_db, new_id, parse_id, to_db};
use crate::tokens::Role;
use crate::validate;

/// A new operator. `password_hash` is `None` for an invited operator, who sets a password
/// through a one-time link.
#[derive(Debug, Clone)]
pub struct NewOperator {
    pub email: String,
    pub name: String,
    pub password_hash: Option<String>,
    pub roles: BTreeMap<String, Role>,
}

/// An edit of an operator; `None` leaves a field as it is. `roles` replaces every role.
#[derive(Debug, Clone, Default)]
pub struct OperatorPatch {
    pub name: Option<String>,
    pub roles: Option<BTreeMap<String, Role>>,
    pub disabled: Option<bool>,
}

/// What a login checks: the operator, its password hash and its TOTP secret (opened). Its
/// `Debug` shows neither secret.
#[derive(Clone)]
pub struct LoginRecord {
    pub operator: Operator,
    pub password_hash: Option<String>,
    pub totp_secret: Option<Vec<u8>>,
}

impl std::fmt::Debug for LoginRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRecord")
            .field("operator", &self.operator)
            .field("password_set", &self.password_hash.is_some())
            .field("totp_enabled", &self.totp_secret.is_some())
            .finish()
    }
}

fn totp_aad(id: &str) -> Vec<u8> {
    format!("keysmith/totp/v1/{id}").into_bytes()
}

fn load_roles(c: &mut DbConn, id: &str) -> StoreResult<BTreeMap<String, Role>> {
    let rows: Vec<RoleRow> = operator_roles::table
        .filter(operator_roles::operator_id.eq(id))
        .select(RoleRow::as_select())
        .load(c)?;
    rows.into_iter()
        .map(|r| Ok((r.environment, role_of(&r.role)?)))
        .collect()
}

fn to_operator(r: &OperatorRow, roles: BTreeMap<String, Role>) -> StoreResult<Operator> {
    Ok(Operator {
        id: parse_id(&r.id)?,
        email: r.email.clone(),
        name: r.name.clone(),
        disabled: r.disabled,
        password_set: r.password_hash.is_some(),
        totp_enabled: r.totp_secret.is_some(),
        roles,
        created_at: from_db(r.created_at),
        last_login_at: r.last_login_at.map(from_db),
    })
}

pub(crate) fn load_row(c: &mut DbConn, id: &str) -> StoreResult<OperatorRow> {
    operators::table
        .find(id)
        .select(OperatorRow::as_select())
        .first(c)
        .optional()?
        .ok_or(StoreError::NotFound { entity: "operator" })
}

pub(crate) fn load(c: &mut DbConn, id: &str) -> StoreResult<Operator> {
    let row = load_row(c, id)?;
    to_operator(&row, load_roles(c, id)?)
}

fn insert_roles(c: &mut DbConn, id: &str, roles: &BTreeMap<String, Role>) -> StoreResult<()> {
    diesel::delete(operator_roles::table.filter(operator_roles::operator_id.eq(id))).execute(c)?;
    for (env, role) in roles {
        diesel::insert_into(operator_roles::table)
            .values(&RoleRow {
                operator_id: id.to_owned(),
                environment: env.clone(),
                role: role.as_str().to_owned(),
            })
            .execute(c)?;
    }
    Ok(())
}

fn roles_json(roles: &BTreeMap<String, Role>) -> serde_json::Value {
    roles
        .iter()
        .map(|(e, r)| (e.clone(), json!(r.as_str())))
        .collect::<JsonObject>()
        .into()
}

/// Refuses a change that would leave an environment where `before` was an enabled admin without
/// any enabled admin operator (`LAST_ADMIN`).
fn check_admins_remain(
    c: &mut DbConn,
    before: &Operator,
    roles_after: &BTreeMap<String, Role>,
    disabled_after: bool,
) -> StoreResult<()> {
    if before.disabled {
        return Ok(());
    }
    let id = before.id.to_string();
    for (env, role) in &before.roles {
        let stays = !disabled_after && roles_after.get(env) == Some(&Role::Admin);
        if *role != Role::Admin || stays {
            continue;
        }
        let others: i64 = operator_roles::table
            .inner_join(operators::table)
            .filter(operator_roles::environment.eq(env))
            .filter(operator_roles::role.eq(Role::Admin.as_str()))
            .filter(operators::disabled.eq(false))
            // An invited operator who never chose a password cannot sign in: no admin yet.
            .filter(operators::password_hash.is_not_null())
            .filter(operators::id.ne(&id))
            .count()
            .get_result(c)?;
        if others == 0 {
            return Err(StoreError::LastAdmin {
                environment: env.clone(),
            });
        }
    }
    Ok(())
}

pub(crate) fn insert(
    c: &mut DbConn,
    actor: &Actor,
    now: OffsetDateTime,
    new: NewOperator,
) -> StoreResult<Operator> {
    let email = validate::email(&new.email)?;
    let row = OperatorRow {
        id: new_id(),
        email_lower: email.to_lowercase(),
        email,
        name: validate::name("name", &new.name)?,
        password_hash: new.password_hash,
        totp_secret: None,
        totp_pending: None,
        totp_last_step: None,
        disabled: false,
        created_at: to_db(now),
        updated_at: to_db(now),
        last_login_at: None,
    };
    diesel::insert_into(operators::table)
        .values(&row)
        .execute(c)
        .map_err(crate::error::unique("email"))?;
    insert_roles(c, &row.id, &new.roles)?;
    let details = json!({"email": row.email, "name": row.name, "roles": roles_json(&new.roles)});
    record(
        c,
        now,
        actor,
        "operator.created",
        Some(&row.id),
        as_object(details),
    )?;
    to_operator(&row, new.roles)
}

fn as_object(v: serde_json::Value) -> JsonObject {
    match v {
        serde_json::Value::Object(o) => o,
        _ => JsonObject::new(),
    }
}

impl ControlStore {
    /// How many operators exist (none: the first-operator setup link is offered).
    pub fn operator_count(&self) -> StoreResult<i64> {
        Ok(operators::table.count().get_result(&mut *self.conn()?)?)
    }

    /// Creates an operator.
    pub fn create_operator(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        new: NewOperator,
    ) -> StoreResult<Operator> {
        self.conn()?.write(|c| insert(c, actor, now, new))
    }

    /// Every operator, by email.
    pub fn operators(&self) -> StoreResult<Vec<Operator>> {
        let c = &mut *self.conn()?;
        let rows: Vec<OperatorRow> = operators::table
            .select(OperatorRow::as_select())
            .order(operators::email_lower.asc())
            .load(c)?;
        let roles: Vec<RoleRow> = operator_roles::table.select(RoleRow::as_select()).load(c)?;
        let mut by_operator: BTreeMap<String, BTreeMap<String, Role>> = BTreeMap::new();
        for r in roles {
            by_operator
                .entry(r.operator_id)
                .or_default()
                .insert(r.environment, role_of(&r.role)?);
        }
        rows.iter()
            .map(|r| to_operator(r, by_operator.remove(&r.id).unwrap_or_default()))
            .collect()
    }

    /// One operator.
    pub fn operator(&self, id: Uuid) -> StoreResult<Operator> {
        load(&mut *self.conn()?, &id.to_string())
    }

    /// The operator with this email (any case), with what a login checks.
    pub fn login_record(&self, email: &str) -> StoreResult<Option<LoginRecord>> {
        let c = &mut *self.conn()?;
        let row: Option<OperatorRow> = operators::table
            .filter(operators::email_lower.eq(email.trim().to_lowercase()))
            .select(OperatorRow::as_select())
            .first(c)
            .optional()?;
        let Some(row) = row else { return Ok(None) };
        let totp_secret = row
            .totp_secret
            .as_ref()
            .map(|s| self.open_totp(&row.id, s))
            .transpose()?;
        Ok(Some(LoginRecord {
            operator: to_operator(&row, load_roles(c, &row.id)?)?,
            password_hash: row.password_hash.clone(),
            totp_secret,
        }))
    }

    /// An operator's password hash and TOTP secret, for re-authentication and changes.
    pub fn credentials(&self, id: Uuid) -> StoreResult<LoginRecord> {
        let c = &mut *self.conn()?;
        let row = load_row(c, &id.to_string())?;
        let totp_secret = row
            .totp_secret
            .as_ref()
            .map(|s| self.open_totp(&row.id, s))
            .transpose()?;
        Ok(LoginRecord {
            operator: to_operator(&row, load_roles(c, &row.id)?)?,
            password_hash: row.password_hash.clone(),
            totp_secret,
        })
    }

    /// Edits an operator's name, roles or disabled flag. Disabling ends its sessions. Refused
    /// (`LAST_ADMIN`) when an environment would be left without an enabled admin operator.
    pub fn update_operator(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        id: Uuid,
        patch: OperatorPatch,
    ) -> StoreResult<Operator> {
        let id = id.to_string();
        let name = patch
            .name
            .as_deref()
            .map(|n| validate::name("name", n))
            .transpose()?;
        self.conn()?.write(|c| {
            let before = load(c, &id)?;
            let roles = patch.roles.clone().unwrap_or_else(|| before.roles.clone());
            let disabled = patch.disabled.unwrap_or(before.disabled);
            check_admins_remain(c, &before, &roles, disabled)?;
            diesel::update(operators::table.find(&id))
                .set((
                    operators::name.eq(name.as_deref().unwrap_or(&before.name)),
                    operators::disabled.eq(disabled),
                    operators::updated_at.eq(to_db(now)),
                ))
                .execute(c)?;
            if patch.roles.is_some() {
                insert_roles(c, &id, &roles)?;
            }
            if disabled && !before.disabled {
                diesel::delete(sessions::table.filter(sessions::operator_id.eq(&id))).execute(c)?;
                super::sessions::drop_password_links(c, &id)?;
            }
            let after = load(c, &id)?;
            let details = json!({
                "before": {"name": before.name, "roles": roles_json(&before.roles), "disabled": before.disabled},
                "after": {"name": after.name, "roles": roles_json(&after.roles), "disabled": after.disabled},
            });
            record(c, now, actor, "operator.updated", Some(&id), as_object(details))?;
            Ok(after)
        })
    }

    /// Sets an operator's password hash and ends its sessions, except `keep` (the session that
    /// changed it).
    pub fn set_password(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        id: Uuid,
        password_hash: &str,
        keep: Option<Uuid>,
    ) -> StoreResult<()> {
        self.conn()?
            .write(|c| set_password_in(c, actor, now, &id.to_string(), password_hash, keep))
    }

    /// Starts TOTP enrolment: `secret` waits, sealed, until a code confirms it.
    pub fn begin_totp(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        id: Uuid,
        secret: &[u8],
    ) -> StoreResult<()> {
        let id = id.to_string();
        let sealed = self.sealer.seal(secret, &totp_aad(&id), &mut rand::rng());
        self.conn()?.write(|c| {
            load_row(c, &id)?;
            diesel::update(operators::table.find(&id))
                .set(operators::totp_pending.eq(Some(sealed)))
                .execute(c)?;
            record(
                c,
                now,
                actor,
                "operator.totp_enrolment_started",
                Some(&id),
                JsonObject::new(),
            )
        })
    }

    /// The secret waiting for confirmation, if any.
    pub fn pending_totp(&self, id: Uuid) -> StoreResult<Option<Vec<u8>>> {
        let id = id.to_string();
        let row = load_row(&mut *self.conn()?, &id)?;
        row.totp_pending
            .as_ref()
            .map(|s| self.open_totp(&id, s))
            .transpose()
    }

    /// Records that the code of TOTP time step `step` was used; false when that step (or a later
    /// one) was used already, so a code is never accepted twice.
    pub fn use_totp_step(&self, id: Uuid, step: u64) -> StoreResult<bool> {
        let step = i64::try_from(step).unwrap_or(i64::MAX);
        let n = diesel::update(
            operators::table.find(id.to_string()).filter(
                operators::totp_last_step
                    .is_null()
                    .or(operators::totp_last_step.lt(step)),
            ),
        )
        .set(operators::totp_last_step.eq(Some(step)))
        .execute(&mut *self.conn()?)?;
        Ok(n == 1)
    }

    /// Makes the pending secret the operator's TOTP secret (its code was checked).
    pub fn confirm_totp(&self, actor: &Actor, now: OffsetDateTime, id: Uuid) -> StoreResult<()> {
        let id = id.to_string();
        self.conn()?.write(|c| {
            let row = load_row(c, &id)?;
            let pending = row.totp_pending.ok_or_else(|| {
                StoreError::invalid("code", "no TOTP enrolment is waiting; start one first")
            })?;
            diesel::update(operators::table.find(&id))
                .set((
                    operators::totp_secret.eq(Some(pending)),
                    operators::totp_pending.eq(None::<Vec<u8>>),
                    operators::updated_at.eq(to_db(now)),
                ))
                .execute(c)?;
            record(
                c,
                now,
                actor,
                "operator.totp_enabled",
                Some(&id),
                JsonObject::new(),
            )
        })
    }

    /// Removes the operator's TOTP secret.
    pub fn remove_totp(&self, actor: &Actor, now: OffsetDateTime, id: Uuid) -> StoreResult<()> {
        let id = id.to_string();
        self.conn()?.write(|c| {
            load_row(c, &id)?;
            diesel::update(operators::table.find(&id))
                .set((
                    operators::totp_secret.eq(None::<Vec<u8>>),
                    operators::totp_pending.eq(None::<Vec<u8>>),
                    operators::updated_at.eq(to_db(now)),
                ))
                .execute(c)?;
            record(
                c,
                now,
                actor,
                "operator.totp_removed",
                Some(&id),
                JsonObject::new(),
            )
        })
    }

    fn open_totp(&self, id: &str, sealed: &[u8]) -> StoreResult<Vec<u8>> {
        self.sealer
            .open(sealed, &totp_aad(id))
            .map_err(|_| StoreError::corrupt(format!("TOTP secret of operator {id}")))
    }
}

pub(crate) fn set_password_in(
    c: &mut DbConn,
    actor: &Actor,
    now: OffsetDateTime,
    id: &str,
    password_hash: &str,
    keep: Option<Uuid>,
) -> StoreResult<()> {
    load_row(c, id)?;
    diesel::update(operators::table.find(id))
        .set((
            operators::password_hash.eq(Some(password_hash)),
            operators::updated_at.eq(to_db(now)),
        ))
        .execute(c)?;
    // Any other set-password link of this operator is spent too.
    super::sessions::drop_password_links(c, id)?;
    let keep = keep.map(|k| k.to_string()).unwrap_or_default();
    let ended = diesel::delete(
        sessions::table
            .filter(sessions::operator_id.eq(id))
            .filter(sessions::id.ne(&keep)),
    )
    .execute(c)?;
    let details = as_object(json!({"sessions_ended": ended}));
    record(
        c,
        now,
        actor,
        "operator.password_changed",
        Some(id),
        details,
    )
}
