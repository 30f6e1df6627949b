//! Repository helpers for the `licenses` table, shared by every use case that touches a license:
//! load (by id or by key digest), lock, save, mint a new row, apply a state transition, and write
//! the audit entry and event of a change. They take `&mut DbConn` and never open a transaction.

use diesel::prelude::*;
use license_core::DigestKey;
use license_core::digest::DIGEST_VERSION;
use license_core::{Action, LicenseKey, LicenseStatus, MintedKey, mint_key, transition};
use serde_json::json;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::Store;
use crate::audit::{self, Actor, Target, details};
use crate::db::DbConn;
use crate::error::{StoreError, StoreResult};
use crate::model::*;
use crate::rows::{ActivationRow, CustomerRow, GeneratorRow, LicenseRow, ProductRow};
use crate::schema::{activations, customers, licenses, products};

/// The outbox event of a lifecycle action.
pub(crate) fn event_of(action: Action) -> &'static str {
    match action {
        Action::Assign | Action::ChangeCustomer => "license.assigned",
        Action::Activate => "license.activated",
        Action::Suspend => "license.suspended",
        Action::Unsuspend => "license.unsuspended",
        Action::Inactivate => "license.inactivated",
        Action::Reactivate => "license.reactivated",
        Action::Expire => "license.expired",
        Action::Revoke => "license.revoked",
        Action::Remint => "license.reminted",
    }
}

/// The status columns of a state: its wire name and its lifecycle rank (for sorting).
pub(crate) fn status_cols(s: LicenseStatus) -> (String, i16) {
    (s.as_str().to_owned(), i16::from(s.lifecycle_rank()))
}

pub(crate) fn load_license(c: &mut DbConn, id: &str) -> StoreResult<LicenseRow> {
    licenses::table
        .find(id)
        .select(LicenseRow::as_select())
        .first(c)
        .optional()?
        .ok_or(StoreError::NotFound { entity: "license" })
}

/// Locks (PostgreSQL) and loads a license inside a write transaction.
pub(crate) fn lock_license(c: &mut DbConn, id: &str) -> StoreResult<LicenseRow> {
    c.lock_license(id)?;
    load_license(c, id)
}

pub(crate) fn load_view(c: &mut DbConn, id: &str) -> StoreResult<LicenseView> {
    let (l, p, cu) = licenses::table
        .inner_join(products::table)
        .left_join(customers::table)
        .filter(licenses::id.eq(id))
        .select((
            LicenseRow::as_select(),
            ProductRow::as_select(),
            Option::<CustomerRow>::as_select(),
        ))
        .first::<(LicenseRow, ProductRow, Option<CustomerRow>)>(c)
        .optional()?
        .ok_or(StoreError::NotFound { entity: "license" })?;
    LicenseView::from_rows(l, p, cu)
}

/// Finds the license a typed key names, by digest index only: the literal reading first, then
/// the Crockford one (at most two indexed lookups, each a cached prepared statement).
pub(crate) fn find_by_key(
    digests: &DigestKey,
    c: &mut DbConn,
    raw_key: &str,
) -> StoreResult<Option<LicenseRow>> {
    for digest in digests.lookup_digests(raw_key) {
        let found = licenses::table
            .filter(licenses::key_digest.eq(digest.as_bytes().as_slice()))
            .select(LicenseRow::as_select())
            .load(c)?
            .pop();
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

/// The license as events carry it.
pub(crate) fn snapshot(l: &LicenseRow) -> JsonObject {
    details(json!({
        "license_id": l.id,
        "product_id": l.product_id,
        "customer_id": l.customer_id,
        "status": l.status,
        "key_display": l.key_display,
        "expires_at": expiry_from_db(l.expires_at).map(|t| t.unix_timestamp()),
    }))
}

/// Writes the audit entry and the event of a license change.
pub(crate) fn log_change(
    c: &mut DbConn,
    now: OffsetDateTime,
    actor: &Actor,
    action: &str,
    event: Option<&str>,
    license: &LicenseRow,
    changes: JsonObject,
) -> StoreResult<()> {
    let target = Target {
        kind: "license",
        id: &license.id,
        key_hint: Some(&license.key_display),
    };
    audit::record(c, now, actor, action, target, changes.clone())?;
    if let Some(event) = event {
        let mut data = snapshot(license);
        data.insert("changes".into(), changes.into());
        audit::emit(c, now, event, Some(&license.id), data)?;
    }
    Ok(())
}

pub(crate) struct MintPlan<'a> {
    pub product: &'a ProductRow,
    pub generator: &'a GeneratorRow,
    pub format: &'a license_core::KeyFormat,
    pub customer_id: Option<String>,
    pub activation_limit: i32,
    pub expires_at: Option<OffsetDateTime>,
    pub feature_flags: String,
    pub metadata: String,
}

/// Builds one new license row with a fresh key (not yet inserted).
pub(crate) fn mint_row(
    store: &Store,
    plan: &MintPlan<'_>,
    now: OffsetDateTime,
    rng: &mut impl rand::RngCore,
) -> (LicenseRow, LicenseKey) {
    let id = Uuid::now_v7();
    let MintedKey {
        key,
        digest,
        ciphertext,
        prefix,
        last4,
        display,
    } = mint_key(plan.format, &plan.product.code, id, store.vault(), rng);
    let status = if plan.customer_id.is_some() {
        LicenseStatus::Assigned
    } else {
        LicenseStatus::Available
    };
    let (status, status_rank) = status_cols(status);
    let row = LicenseRow {
        id: id.to_string(),
        product_id: plan.product.id.clone(),
        generator_id: plan.generator.id.clone(),
        customer_id: plan.customer_id.clone(),
        status,
        status_rank,
        activation_limit: plan.activation_limit,
        activations_active: 0,
        ever_activated: false,
        expires_at: expiry_to_db(plan.expires_at),
        feature_flags: plan.feature_flags.clone(),
        metadata: plan.metadata.clone(),
        suspended_reason: None,
        reminted_from: None,
        reminted_to: None,
        first_activated_at: None,
        key_digest: digest.as_bytes().to_vec(),
        key_ciphertext: ciphertext,
        key_prefix: prefix,
        key_last4: last4,
        key_display: display,
        job_id: None,
        job_seq: None,
        created_at: to_db(now),
        updated_at: to_db(now),
        key_digest_version: DIGEST_VERSION,
    };
    (row, key)
}

/// Deactivates every active activation of a license (revoke, remint), with their events.
pub(crate) fn deactivate_all(
    c: &mut DbConn,
    now: OffsetDateTime,
    license_id: &str,
) -> StoreResult<usize> {
    let active: Vec<ActivationRow> = activations::table
        .filter(activations::license_id.eq(license_id))
        .filter(activations::status.eq("active"))
        .select(ActivationRow::as_select())
        .load(c)?;
    if active.is_empty() {
        return Ok(0);
    }
    diesel::update(
        activations::table
            .filter(activations::license_id.eq(license_id))
            .filter(activations::status.eq("active")),
    )
    .set((
        activations::status.eq("deactivated"),
        activations::deactivated_at.eq(Some(to_db(now))),
    ))
    .execute(c)?;
    for a in &active {
        let data = details(
            json!({"activation_id": a.id, "license_id": license_id, "fingerprint": a.fingerprint}),
        );
        audit::emit(c, now, "activation.deactivated", Some(license_id), data)?;
    }
    Ok(active.len())
}

diesel::define_sql_function! {
    /// SQL `COALESCE` of a nullable text and a default.
    fn coalesce(x: diesel::sql_types::Nullable<diesel::sql_types::Text>, y: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// Fills the sort names (customer and product name, for the list's sorts) of licenses that have
/// none yet: call after inserting licenses. Product names are never empty, so an empty
/// `product_sort` marks a new row.
pub(crate) fn fill_sort_names(c: &mut DbConn) -> StoreResult<()> {
    let customer = customers::table
        .filter(customers::id.nullable().eq(licenses::customer_id))
        .select(customers::name)
        .single_value();
    let product = products::table
        .filter(products::id.eq(licenses::product_id))
        .select(products::name)
        .single_value();
    diesel::update(licenses::table.filter(licenses::product_sort.eq("")))
        .set((
            licenses::customer_sort.eq(coalesce(customer, "")),
            licenses::product_sort.eq(coalesce(product, "")),
        ))
        .execute(c)?;
    Ok(())
}

pub(crate) fn save_license(c: &mut DbConn, row: &LicenseRow) -> StoreResult<()> {
    diesel::update(licenses::table.find(&row.id))
        .set((
            licenses::customer_id.eq(&row.customer_id),
            licenses::status.eq(&row.status),
            licenses::status_rank.eq(row.status_rank),
            licenses::activation_limit.eq(row.activation_limit),
            licenses::activations_active.eq(row.activations_active),
            licenses::ever_activated.eq(row.ever_activated),
            licenses::expires_at.eq(row.expires_at),
            licenses::feature_flags.eq(&row.feature_flags),
            licenses::metadata.eq(&row.metadata),
            licenses::suspended_reason.eq(&row.suspended_reason),
            licenses::reminted_to.eq(&row.reminted_to),
            licenses::first_activated_at.eq(row.first_activated_at),
            licenses::updated_at.eq(row.updated_at),
        ))
        .execute(c)?;
    // The customer may have changed: its name is the license's customer sort.
    let customer = customers::table
        .filter(customers::id.nullable().eq(licenses::customer_id))
        .select(customers::name)
        .single_value();
    diesel::update(licenses::table.find(&row.id))
        .set(licenses::customer_sort.eq(coalesce(customer, "")))
        .execute(c)?;
    Ok(())
}

/// Applies a core transition to a loaded row: status columns and `updated_at`.
pub(crate) fn apply(
    row: &mut LicenseRow,
    action: Action,
    now: OffsetDateTime,
) -> StoreResult<LicenseStatus> {
    let from = parse_status(row)?;
    let to = transition(from, action)?;
    (row.status, row.status_rank) = status_cols(to);
    row.updated_at = to_db(now);
    Ok(from)
}

pub(crate) fn parse_status(row: &LicenseRow) -> StoreResult<LicenseStatus> {
    LicenseStatus::parse(&row.status)
        .ok_or_else(|| StoreError::corrupt(format!("license status {:?}", row.status)))
}

/// Expires a license inside a write transaction if it is due; `true` if it did.
pub(crate) fn expire_locked(
    c: &mut DbConn,
    actor: &Actor,
    now: OffsetDateTime,
    id: &str,
    grace: Duration,
) -> StoreResult<bool> {
    let mut row = lock_license(c, id)?;
    let due = expiry_from_db(row.expires_at).is_some_and(|e| now >= e + grace);
    let status = parse_status(&row)?;
    if !due || transition(status, Action::Expire).is_err() {
        return Ok(false);
    }
    apply(&mut row, Action::Expire, now)?;
    save_license(c, &row)?;
    let changes =
        details(json!({"before": {"status": status.as_str()}, "after": {"status": row.status}}));
    log_change(
        c,
        now,
        actor,
        "license.expired",
        Some("license.expired"),
        &row,
        changes,
    )?;
    Ok(true)
}
