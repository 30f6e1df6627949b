//! The customer-facing use cases: validate (read-mostly), activate (race-free against the
//! activation limit on both backends), deactivate.

use diesel::prelude::*;
use license_core::{
    Action, Decision, DigestKey, Fingerprint, Instance, LicenseSnapshot, Outcome, ProductRef,
    decide_activation, decide_validation,
};
use serde_json::json;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::audit::{self, Actor, details};
use crate::db::DbConn;
use crate::error::{StoreError, StoreResult};
use crate::generators::{load_generator, starts_at, validity_from};
use crate::license_rows::{
    apply, expire_locked, find_by_key, load_license, lock_license, log_change, parse_status,
    save_license as save,
};
use crate::model::*;
use crate::rows::{ActivationRow, LicenseRow, ProductRow};
use crate::schema::{activations, generators, licenses, products};
use crate::{Store, validate};

/// `last_validated_at` is written at most once per this interval per activation.
pub const TOUCH_INTERVAL: Duration = Duration::minutes(1);

/// What validate and activate answer with: the decision and the records behind it.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Outcome (with its code) and the transition that was applied, if any.
    pub decision: Decision,
    /// The license, when the key exists (after any transition).
    pub license: Option<License>,
    /// Its product.
    pub product: Option<Product>,
    /// The asking instance's activation, when there is one.
    pub activation: Option<Activation>,
    /// How long a lease for this license may be trusted (its generator's `lease_ttl_seconds`).
    pub lease_ttl: Duration,
}

impl Answer {
    fn not_found() -> Self {
        Self {
            decision: Decision {
                outcome: Outcome::NotFound,
                transition: None,
            },
            license: None,
            product: None,
            activation: None,
            lease_ttl: Duration::ZERO,
        }
    }
}

/// An instance asking to activate.
#[derive(Debug, Clone)]
pub struct NewActivation {
    pub fingerprint: Fingerprint,
    pub name: Option<String>,
    pub platform: Option<String>,
    pub ip: Option<String>,
    pub metadata: Option<JsonObject>,
}

fn snapshot_of(l: &LicenseRow, p: &ProductRow) -> StoreResult<LicenseSnapshot> {
    Ok(LicenseSnapshot {
        status: parse_status(l)?,
        product_id: parse_id(&p.id)?,
        product_code: p.code.clone(),
        expires_at: expiry_from_db(l.expires_at),
        activation_limit: license_core::ActivationLimit::new(i64::from(l.activation_limit))
            .map_err(|e| StoreError::corrupt(e.to_string()))?,
    })
}

/// `status = 'active'` with the value in the statement's text rather than bound: SQLite plans a
/// statement before its values are bound (and PostgreSQL's generic plans ignore them), so only
/// a literal lets either use the partial index `activations_one_active`. Bound, SQLite walked
/// every activation with the same fingerprint (the whole fleet, for a fingerprint that many
/// licenses share). Diesel's `sql()` literal would also do, but makes the statement uncachable:
/// parsed again on every validate.
fn is_active() -> diesel::dsl::Eq<activations::status, ActiveLiteral> {
    activations::status.eq(ActiveLiteral)
}

/// The SQL text `'active'`: a constant, so the statement stays a cached prepared one.
#[derive(Debug, Clone, Copy, diesel::query_builder::QueryId)]
struct ActiveLiteral;

impl diesel::Expression for ActiveLiteral {
    type SqlType = diesel::sql_types::Text;
}

impl<DB: diesel::backend::Backend> diesel::query_builder::QueryFragment<DB> for ActiveLiteral {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, DB>,
    ) -> QueryResult<()> {
        out.push_sql("'active'");
        Ok(())
    }
}

impl<QS> diesel::SelectableExpression<QS> for ActiveLiteral {}

impl<QS> diesel::AppearsOnTable<QS> for ActiveLiteral {}

impl diesel::expression::ValidGrouping<()> for ActiveLiteral {
    type IsAggregate = diesel::expression::is_aggregate::Never;
}

fn active_activation(
    c: &mut DbConn,
    license_id: &str,
    fingerprint: &str,
) -> StoreResult<Option<ActivationRow>> {
    Ok(activations::table
        .filter(activations::license_id.eq(license_id))
        .filter(activations::fingerprint.eq(fingerprint))
        .filter(is_active())
        .select(ActivationRow::as_select())
        .first(c)
        .optional()?)
}

/// The license a key names, its product, and its generator's lease TTL (two indexed queries).
fn load_with_product(
    digests: &DigestKey,
    c: &mut DbConn,
    raw_key: &str,
) -> StoreResult<Option<(LicenseRow, ProductRow, i32)>> {
    let Some(l) = find_by_key(digests, c, raw_key)? else {
        return Ok(None);
    };
    let (p, ttl) = generators::table
        .inner_join(products::table)
        .filter(generators::id.eq(&l.generator_id))
        .select((ProductRow::as_select(), generators::lease_ttl_seconds))
        .load::<(ProductRow, i32)>(c)?
        .pop()
        .ok_or(StoreError::NotFound {
            entity: "generator",
        })?;
    Ok(Some((l, p, ttl)))
}

/// What validate reads: the license, its product, its generator's lease TTL and the asking
/// instance's active activation.
type ValidationRows = (LicenseRow, ProductRow, i32, Option<ActivationRow>);

/// Everything validate needs in one indexed statement per key reading (one round trip for a
/// key typed as minted): the license by digest, its generator and product, and the active
/// activation of `fingerprint`. Without a fingerprint the join matches nothing (a fingerprint is
/// never empty) and the statement stays the same prepared one.
fn load_for_validation(
    digests: &DigestKey,
    c: &mut DbConn,
    raw_key: &str,
    fingerprint: Option<&Fingerprint>,
) -> StoreResult<Option<ValidationRows>> {
    let fp = fingerprint.map_or("", Fingerprint::as_str);
    // Built once per backend and run on the concrete connection, not through `MultiConnection`:
    // there Diesel finds the cached statement by the query's type instead of rendering its SQL
    // text first (a tenth of a validate's CPU time on SQLite).
    macro_rules! query {
        ($digest:expr) => {
            licenses::table
                .inner_join(generators::table.on(generators::id.eq(licenses::generator_id)))
                .inner_join(products::table.on(products::id.eq(generators::product_id)))
                .left_join(
                    activations::table.on(activations::license_id
                        .eq(licenses::id)
                        .and(activations::fingerprint.eq(fp))
                        .and(is_active())),
                )
                .filter(licenses::key_digest.eq($digest))
                .select((
                    LicenseRow::as_select(),
                    ProductRow::as_select(),
                    generators::lease_ttl_seconds,
                    Option::<ActivationRow>::as_select(),
                ))
                .limit(1)
        };
    }
    for digest in digests.lookup_digests(raw_key) {
        let digest = digest.as_bytes().as_slice();
        let found = match c {
            DbConn::Sqlite(c) => query!(digest).load::<ValidationRows>(c)?,
            DbConn::Pg(c) => query!(digest).load::<ValidationRows>(c)?,
        }
        .pop();
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

/// A license found for validation and the decision on it, before any write.
struct Read {
    decision: Decision,
    l: LicenseRow,
    p: ProductRow,
    ttl: i32,
    act: Option<ActivationRow>,
}

/// Reads what validate needs and decides; `None` for an unknown key.
fn read_validation(
    digests: &DigestKey,
    c: &mut DbConn,
    now: OffsetDateTime,
    raw_key: &str,
    fingerprint: Option<&Fingerprint>,
    product: Option<&ProductRef>,
    grace: Duration,
) -> StoreResult<Option<Read>> {
    let Some((l, p, ttl, act)) = load_for_validation(digests, c, raw_key, fingerprint)? else {
        return Ok(None);
    };
    let instance = match (fingerprint, &act) {
        (None, _) => Instance::NotGiven,
        (Some(_), Some(_)) => Instance::Active,
        (Some(_), None) => Instance::NotActive,
    };
    let decision = decide_validation(&snapshot_of(&l, &p)?, product, instance, now, grace);
    Ok(Some(Read {
        decision,
        l,
        p,
        ttl,
        act,
    }))
}

/// Whether this successful validate refreshes the activation's `last_validated_at`.
fn needs_touch(decision: &Decision, a: &ActivationRow, now: OffsetDateTime) -> bool {
    decision.outcome.is_success() && now - from_db(a.last_validated_at) >= TOUCH_INTERVAL
}

fn answer(
    decision: Decision,
    l: LicenseRow,
    (p, ttl): (ProductRow, i32),
    a: Option<ActivationRow>,
) -> StoreResult<Answer> {
    Ok(Answer {
        decision,
        license: Some(License::try_from(l)?),
        product: Some(Product::try_from(p)?),
        activation: a.map(Activation::try_from).transpose()?,
        lease_ttl: Duration::seconds(i64::from(ttl)),
    })
}

impl Store {
    /// Validates a key (`POST /validate`). Reads only, except: a license past its term is
    /// expired in the same call (lazy expiry), and `last_validated_at` of the asking activation
    /// is refreshed at most once a minute. No write lock is taken otherwise.
    pub fn validate(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        raw_key: &str,
        fingerprint: Option<&Fingerprint>,
        product: Option<&ProductRef>,
        grace: Duration,
    ) -> StoreResult<Answer> {
        let mut conn = self.conn()?;
        let c = &mut *conn;
        let Some(read) =
            read_validation(self.digests(), c, now, raw_key, fingerprint, product, grace)?
        else {
            return Ok(Answer::not_found());
        };
        let Read {
            decision,
            l,
            p,
            ttl,
            act,
        } = read;
        if decision.transition == Some(Action::Expire) {
            self.write_on(c, |c| expire_locked(c, actor, now, &l.id, grace))?;
            let l = load_license(c, &l.id)?;
            return answer(decision, l, (p, ttl), act);
        }
        let act = match act {
            Some(a) if needs_touch(&decision, &a, now) => {
                Some(self.write_on(c, |c| touch(c, a, now))?)
            }
            other => other,
        };
        answer(decision, l, (p, ttl), act)
    }

    /// [`Store::validate`] when it can answer without waiting for anything: on SQLite, with a
    /// pooled connection idle right now, and when the answer needs no write (no lazy expiry, no
    /// `last_validated_at` refresh due). `None` otherwise, and then the caller runs `validate`
    /// where blocking is fine. The HTTP layer calls this on its async worker: it is one indexed
    /// read of an in-process database, cheaper than handing the request to another thread.
    pub fn validate_now(
        &self,
        now: OffsetDateTime,
        raw_key: &str,
        fingerprint: Option<&Fingerprint>,
        product: Option<&ProductRef>,
        grace: Duration,
    ) -> Option<StoreResult<Answer>> {
        if self.is_postgres() {
            return None;
        }
        let mut conn = self.idle_conn()?;
        let read = read_validation(
            self.digests(),
            &mut conn,
            now,
            raw_key,
            fingerprint,
            product,
            grace,
        );
        match read {
            Ok(None) => Some(Ok(Answer::not_found())),
            Ok(Some(Read { decision, .. })) if decision.transition == Some(Action::Expire) => None,
            Ok(Some(Read {
                act: Some(a),
                decision,
                ..
            })) if needs_touch(&decision, &a, now) => None,
            Ok(Some(Read {
                decision,
                l,
                p,
                ttl,
                act,
            })) => Some(answer(decision, l, (p, ttl), act)),
            Err(e) => Some(Err(e)),
        }
    }

    /// Activates an instance (`POST /activate`). An unknown key is answered without a write
    /// transaction. Otherwise the license row is locked (PostgreSQL) or the database write lock
    /// held (SQLite) from the count of active activations to the insert, so the limit holds under
    /// any concurrency.
    pub fn activate(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        raw_key: &str,
        new: NewActivation,
        grace: Duration,
    ) -> StoreResult<Answer> {
        for (field, v) in [("name", &new.name), ("platform", &new.platform)] {
            if let Some(v) = v {
                validate::name(field, v)?;
            }
        }
        if let Some(m) = &new.metadata {
            validate::object("metadata", m)?;
        }
        let mut conn = self.conn()?;
        // An unknown key is answered from a read: guessing never takes the write lock (on SQLite
        // one lock for the whole database). The write transaction looks the key up again, and
        // the limit check stays inside it.
        if find_by_key(self.digests(), &mut conn, raw_key)?.is_none() {
            return Ok(Answer::not_found());
        }
        self.write_on(&mut conn, |c| {
            let Some((found, p, ttl)) = load_with_product(self.digests(), c, raw_key)? else {
                return Ok(Answer::not_found());
            };
            let mut l = lock_license(c, &found.id)?;
            let existing = active_activation(c, &l.id, new.fingerprint.as_str())?;
            let active: i64 = activations::table
                .filter(activations::license_id.eq(&l.id))
                .filter(is_active())
                .count()
                .get_result(c)?;
            let active = u32::try_from(active).unwrap_or(u32::MAX);
            let decision = decide_activation(
                &snapshot_of(&l, &p)?,
                existing.is_some(),
                active,
                now,
                grace,
            );
            match decision.outcome {
                Outcome::Activated => {}
                Outcome::Expired if decision.transition == Some(Action::Expire) => {
                    expire_locked(c, actor, now, &l.id, grace)?;
                    let l = load_license(c, &l.id)?;
                    return answer(decision, l, (p, ttl), None);
                }
                _ => return answer(decision, l, (p, ttl), existing),
            }
            let row = ActivationRow {
                id: new_id(),
                license_id: l.id.clone(),
                fingerprint: new.fingerprint.as_str().to_owned(),
                name: new.name.as_deref().map(str::trim).map(str::to_owned),
                platform: new.platform.as_deref().map(str::trim).map(str::to_owned),
                ip: new.ip.clone(),
                metadata: json_text(&new.metadata.clone().unwrap_or_default()),
                status: ActivationStatus::Active.as_str().into(),
                first_seen_at: to_db(now),
                last_validated_at: to_db(now),
                deactivated_at: None,
            };
            diesel::insert_into(activations::table)
                .values(&row)
                .execute(c)?;
            l.activations_active = i32::try_from(active + 1).unwrap_or(i32::MAX);
            l.ever_activated = true;
            l.updated_at = to_db(now);
            if l.first_activated_at.is_none() {
                l.first_activated_at = Some(to_db(now));
                let g = load_generator(c, &l.generator_id)?;
                if (l.expires_at == LIFETIME) && starts_at(&g, ExpiryBasis::FirstActivation) {
                    l.expires_at = expiry_to_db(validity_from(&g, now));
                }
            }
            if decision.transition == Some(Action::Activate) {
                let from = apply(&mut l, Action::Activate, now)?;
                let changes = details(
                    json!({"before": {"status": from.as_str()}, "after": {"status": l.status}}),
                );
                save(c, &l)?;
                log_change(
                    c,
                    now,
                    actor,
                    "license.activated",
                    Some("license.activated"),
                    &l,
                    changes,
                )?;
            } else {
                save(c, &l)?;
            }
            record_activation(c, now, actor, "activation.created", &l, &row)?;
            answer(decision, l, (p, ttl), Some(row))
        })
    }

    /// Deactivates the active activation of `fingerprint` on the license of `raw_key`
    /// (`POST /deactivate`). `NotFound` when there is none, found out without a write
    /// transaction.
    pub fn deactivate(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        raw_key: &str,
        fingerprint: &Fingerprint,
    ) -> StoreResult<Activation> {
        let not_found = || StoreError::NotFound {
            entity: "activation",
        };
        let mut conn = self.conn()?;
        // Looked up with reads first: an unknown key or fingerprint never takes the write lock.
        let l = find_by_key(self.digests(), &mut conn, raw_key)?.ok_or_else(not_found)?;
        active_activation(&mut conn, &l.id, fingerprint.as_str())?.ok_or_else(not_found)?;
        self.write_on(&mut conn, |c| {
            let l = find_by_key(self.digests(), c, raw_key)?.ok_or(StoreError::NotFound {
                entity: "activation",
            })?;
            let a =
                active_activation(c, &l.id, fingerprint.as_str())?.ok_or(StoreError::NotFound {
                    entity: "activation",
                })?;
            deactivate_row(c, actor, now, a)
        })
    }

    /// Deactivates one activation by id (`POST /activations/{id}/deactivate`).
    pub fn deactivate_activation(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        id: Uuid,
    ) -> StoreResult<Activation> {
        self.deactivate_by_id(actor, now, id, None)
    }

    /// A customer deactivates one of their own devices in the portal; an activation of anyone
    /// else's license is `NotFound`, like one that does not exist.
    pub fn deactivate_own_activation(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        customer: Uuid,
        id: Uuid,
    ) -> StoreResult<Activation> {
        self.deactivate_by_id(actor, now, id, Some(customer))
    }

    fn deactivate_by_id(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        id: Uuid,
        owner: Option<Uuid>,
    ) -> StoreResult<Activation> {
        self.write(|c| {
            let a: ActivationRow = activations::table
                .find(id.to_string())
                .select(ActivationRow::as_select())
                .first(c)
                .optional()?
                .ok_or(StoreError::NotFound {
                    entity: "activation",
                })?;
            if let Some(customer) = owner
                && !crate::portal::owns(c, customer, &a.license_id)?
            {
                return Err(StoreError::NotFound {
                    entity: "activation",
                });
            }
            if a.status != ActivationStatus::Active.as_str() {
                return Err(StoreError::NotFound {
                    entity: "active activation",
                });
            }
            deactivate_row(c, actor, now, a)
        })
    }
}

fn deactivate_row(
    c: &mut DbConn,
    actor: &Actor,
    now: OffsetDateTime,
    mut a: ActivationRow,
) -> StoreResult<Activation> {
    let mut l = lock_license(c, &a.license_id)?;
    let n = diesel::update(activations::table.find(&a.id).filter(is_active()))
        .set((
            activations::status.eq("deactivated"),
            activations::deactivated_at.eq(Some(to_db(now))),
        ))
        .execute(c)?;
    if n == 0 {
        return Err(StoreError::NotFound {
            entity: "active activation",
        });
    }
    a.status = ActivationStatus::Deactivated.as_str().into();
    a.deactivated_at = Some(to_db(now));
    l.activations_active = (l.activations_active - 1).max(0);
    diesel::update(licenses::table.find(&l.id))
        .set(licenses::activations_active.eq(l.activations_active))
        .execute(c)?;
    record_activation(c, now, actor, "activation.deactivated", &l, &a)?;
    Activation::try_from(a)
}

fn record_activation(
    c: &mut DbConn,
    now: OffsetDateTime,
    actor: &Actor,
    action: &str,
    l: &LicenseRow,
    a: &ActivationRow,
) -> StoreResult<()> {
    let target = audit::Target {
        kind: "activation",
        id: &a.id,
        key_hint: Some(&l.key_display),
    };
    let d = details(json!({
        "license_id": l.id,
        "activation_id": a.id,
        "fingerprint": a.fingerprint,
        "activations_active": l.activations_active,
        "activation_limit": l.activation_limit,
    }));
    audit::record(c, now, actor, action, target, d.clone())?;
    audit::emit(c, now, action, Some(&l.id), d)
}

/// Refreshes `last_validated_at` unless another request did within the interval; the guard in
/// the `WHERE` makes concurrent refreshes write once.
fn touch(c: &mut DbConn, mut a: ActivationRow, now: OffsetDateTime) -> StoreResult<ActivationRow> {
    let stale_before = to_db(now - TOUCH_INTERVAL);
    diesel::update(
        activations::table
            .find(&a.id)
            .filter(activations::last_validated_at.le(stale_before)),
    )
    .set(activations::last_validated_at.eq(to_db(now)))
    .execute(c)?;
    a.last_validated_at = to_db(now);
    Ok(a)
}
