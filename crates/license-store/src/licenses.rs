//! Licenses: minting one, reading, listing and searching, editing, every lifecycle action,
//! remint, reveal and delete. Each use case is one transaction that writes the row, its audit
//! entry and its outbox event.

use diesel::prelude::*;
use license_core::keys::{self, lookup_digests};
use license_core::{Action, LicenseKey, LicenseStatus, MintedKey, mint_key, transition};
use serde_json::json;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::audit::{self, Actor, Target};
use crate::catalog::{details, load_customer, load_generator, load_product, unique};
use crate::db::DbConn;
use crate::error::{StoreError, StoreResult};
use crate::model::*;
use crate::rows::{ActivationRow, CustomerRow, GeneratorRow, LicenseRow, ProductRow};
use crate::schema::{activations, customers, licenses, products};
use crate::validate;
use crate::{Page, Store};

/// A license to mint (`POST /licenses`); defaults come from the generator.
#[derive(Debug, Clone)]
pub struct NewLicense {
    pub product_id: Uuid,
    pub generator_id: Uuid,
    pub customer_id: Option<Uuid>,
    pub activation_limit: Option<i64>,
    pub expires_at: Option<OffsetDateTime>,
    pub feature_flags: Option<JsonObject>,
    pub metadata: Option<JsonObject>,
}

/// A license just minted, with its full key: the only time the key is shown.
#[derive(Debug, Clone)]
pub struct Created {
    pub license: LicenseView,
    pub key: LicenseKey,
}

/// Edits of `PATCH /licenses/{id}`; `None` leaves a field, `Some(None)` clears a nullable one.
#[derive(Debug, Clone, Default)]
pub struct LicensePatch {
    pub customer_id: Option<Option<Uuid>>,
    pub activation_limit: Option<i64>,
    pub expires_at: Option<Option<OffsetDateTime>>,
    pub feature_flags: Option<JsonObject>,
    pub metadata: Option<JsonObject>,
}

/// The lifecycle actions an operator (or the abuse detector) takes on a license.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LicenseAction {
    Assign { customer_id: Uuid },
    Suspend { reason: String },
    Unsuspend,
    Inactivate,
    Reactivate,
    Revoke,
}

impl LicenseAction {
    fn core(&self) -> Action {
        match self {
            Self::Assign { .. } => Action::Assign,
            Self::Suspend { .. } => Action::Suspend,
            Self::Unsuspend => Action::Unsuspend,
            Self::Inactivate => Action::Inactivate,
            Self::Reactivate => Action::Reactivate,
            Self::Revoke => Action::Revoke,
        }
    }
}

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

/// Sort keys of `GET /licenses`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LicenseSort {
    Key,
    Product,
    Customer,
    Status,
    Activations,
    Expires,
    #[default]
    Created,
}

impl LicenseSort {
    /// Parses a `sort` value.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "key" => Self::Key,
            "product" => Self::Product,
            "customer" => Self::Customer,
            "status" => Self::Status,
            "activations" => Self::Activations,
            "expires" => Self::Expires,
            "created" => Self::Created,
            _ => return None,
        })
    }
}

/// Filters, search, sort and page of `GET /licenses` (and the exports).
#[derive(Debug, Clone, Default)]
pub struct LicenseFilter {
    pub q: Option<String>,
    pub product: Option<Uuid>,
    pub status: Option<LicenseStatus>,
    pub customer: Option<Uuid>,
    pub expires_before: Option<OffsetDateTime>,
    pub expires_after: Option<OffsetDateTime>,
    pub sort: LicenseSort,
    /// Descending when true.
    pub desc: bool,
}

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
pub(crate) fn find_by_key(c: &mut DbConn, raw_key: &str) -> StoreResult<Option<LicenseRow>> {
    for digest in lookup_digests(raw_key) {
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

fn snapshot(l: &LicenseRow) -> JsonObject {
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
        key_hint: Some(&license.key_prefix),
    };
    audit::record(c, now, actor, action, target, changes.clone())?;
    if let Some(event) = event {
        let mut data = snapshot(license);
        data.insert("changes".into(), changes.into());
        audit::emit(c, now, event, Some(&license.id), data)?;
    }
    Ok(())
}

/// The expiry a license gets when its generator's validity clock starts now.
pub(crate) fn validity_from(g: &GeneratorRow, now: OffsetDateTime) -> Option<OffsetDateTime> {
    g.default_validity_days
        .map(|d| now + Duration::days(i64::from(d)))
}

pub(crate) fn load_generator_for(c: &mut DbConn, l: &LicenseRow) -> StoreResult<GeneratorRow> {
    load_generator(c, &l.generator_id)
}

pub(crate) fn starts_at_first_activation(g: &GeneratorRow) -> bool {
    starts_at(g, ExpiryBasis::FirstActivation)
}

/// Whether the generator's clock starts at this basis.
pub(crate) fn starts_at(g: &GeneratorRow, basis: ExpiryBasis) -> bool {
    g.expiry_basis == basis.as_str()
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
    } = mint_key(plan.format, &plan.product.code, id, store.sealer(), rng);
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
    };
    (row, key)
}

pub(crate) fn parse_format(g: &GeneratorRow) -> StoreResult<license_core::KeyFormat> {
    serde_json::from_str(&g.format)
        .map_err(|e| StoreError::corrupt(format!("generator format: {e}")))
}

fn check_future(field: &'static str, t: OffsetDateTime, now: OffsetDateTime) -> StoreResult<()> {
    if t <= now {
        return Err(StoreError::invalid(field, "must be in the future"));
    }
    if t.checked_to_offset(time::UtcOffset::UTC)
        .is_none_or(|u| u.year() >= 9000)
    {
        return Err(StoreError::invalid(
            field,
            "must be before the year 9000 (omit it for a lifetime license)",
        ));
    }
    Ok(())
}

pub(crate) fn check_limit(v: i64) -> StoreResult<i32> {
    license_core::ActivationLimit::new(v)
        .map(license_core::ActivationLimit::get)
        .map_err(|e| {
            StoreError::invalid(
                "activation_limit",
                e.to_string().replace("activation_limit ", ""),
            )
        })
}

/// Deactivates every active activation of a license (revoke, remint), with their events.
fn deactivate_all(c: &mut DbConn, now: OffsetDateTime, license_id: &str) -> StoreResult<usize> {
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

impl Store {
    /// Mints one license (`POST /licenses`). With a customer it is the assign action as well.
    pub fn create_license(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        new: NewLicense,
    ) -> StoreResult<Created> {
        let limit = new.activation_limit.map(check_limit).transpose()?;
        if let Some(t) = new.expires_at {
            check_future("expires_at", t, now)?;
        }
        for (field, v) in [
            ("feature_flags", &new.feature_flags),
            ("metadata", &new.metadata),
        ] {
            if let Some(v) = v {
                validate::object(field, v)?;
            }
        }
        self.conn()?.write(|c| {
            let product = load_product(c, &new.product_id.to_string())
                .map_err(|_| StoreError::invalid("product_id", format!("no product {}", new.product_id)))?;
            if product.status != ProductStatus::Active.as_str() {
                return Err(StoreError::invalid("product_id", "product is archived; licenses can be created only for an active product"));
            }
            let generator = load_generator(c, &new.generator_id.to_string())
                .map_err(|_| StoreError::invalid("generator_id", format!("no generator {}", new.generator_id)))?;
            if generator.product_id != product.id {
                return Err(StoreError::invalid("generator_id", "generator belongs to another product"));
            }
            if let Some(cid) = new.customer_id {
                load_customer(c, &cid.to_string())
                    .map_err(|_| StoreError::invalid("customer_id", format!("no customer {cid}")))?;
            }
            let expires_at = new.expires_at.or_else(|| {
                let clock_starts = starts_at(&generator, ExpiryBasis::Creation)
                    || (new.customer_id.is_some() && starts_at(&generator, ExpiryBasis::Assignment));
                clock_starts.then(|| validity_from(&generator, now)).flatten()
            });
            let format = parse_format(&generator)?;
            let plan = MintPlan {
                product: &product,
                generator: &generator,
                format: &format,
                customer_id: new.customer_id.map(|u| u.to_string()),
                activation_limit: limit.unwrap_or(generator.default_activation_limit),
                expires_at,
                feature_flags: new.feature_flags.as_ref().map_or_else(|| generator.default_feature_flags.clone(), json_text),
                metadata: json_text(&new.metadata.clone().unwrap_or_default()),
            };
            let (row, key) = mint_row(self, &plan, now, &mut rand::rng());
            diesel::insert_into(licenses::table).values(&row).execute(c).map_err(unique("key"))?;
            log_change(c, now, actor, "license.created", Some("license.created"), &row, details(json!({"after": snapshot(&row)})))?;
            if row.customer_id.is_some() {
                let d = details(json!({"before": {"customer_id": null}, "after": {"customer_id": row.customer_id}}));
                log_change(c, now, actor, "license.assigned", Some("license.assigned"), &row, d)?;
            }
            Ok(Created { license: load_view(c, &row.id)?, key })
        })
    }

    /// One license with its product and customer.
    pub fn license(&self, id: Uuid) -> StoreResult<LicenseView> {
        load_view(&mut *self.conn()?, &id.to_string())
    }

    /// Edits a license (`PATCH`). Setting a customer on an available license is the assign action;
    /// changing it later keeps the state; removing it from an assigned license is refused.
    pub fn update_license(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        id: Uuid,
        patch: LicensePatch,
    ) -> StoreResult<LicenseView> {
        let limit = patch.activation_limit.map(check_limit).transpose()?;
        if let Some(Some(t)) = patch.expires_at {
            check_future("expires_at", t, now)?;
        }
        for (field, v) in [
            ("feature_flags", &patch.feature_flags),
            ("metadata", &patch.metadata),
        ] {
            if let Some(v) = v {
                validate::object(field, v)?;
            }
        }
        let id = id.to_string();
        self.conn()?.write(|c| {
            let mut row = lock_license(c, &id)?;
            let status = parse_status(&row)?;
            if !status.is_editable() {
                return Err(StoreError::NotEditable { status });
            }
            let mut before = JsonObject::new();
            let mut after = JsonObject::new();
            let mut assigned = None;
            if let Some(customer) = patch.customer_id {
                let new_customer = customer.map(|u| u.to_string());
                if new_customer != row.customer_id {
                    let Some(cid) = &new_customer else {
                        return Err(StoreError::invalid("customer_id", "the customer of an assigned license cannot be removed (licenses never move back to available)"));
                    };
                    load_customer(c, cid).map_err(|_| StoreError::invalid("customer_id", format!("no customer {cid}")))?;
                    let action = if status == LicenseStatus::Available { Action::Assign } else { Action::ChangeCustomer };
                    apply(&mut row, action, now)?;
                    before.insert("customer_id".into(), row.customer_id.clone().into());
                    after.insert("customer_id".into(), new_customer.clone().into());
                    if action == Action::Assign && (row.expires_at == LIFETIME) && patch.expires_at.is_none() {
                        let g = load_generator(c, &row.generator_id)?;
                        if starts_at(&g, ExpiryBasis::Assignment) {
                            row.expires_at = expiry_to_db(validity_from(&g, now));
                        }
                    }
                    row.customer_id = new_customer;
                    assigned = Some(action);
                }
            }
            if let Some(l) = limit {
                if l >= 0 && l < row.activations_active {
                    return Err(StoreError::invalid(
                        "activation_limit",
                        format!(
                            "{} activations are active; deactivate some before lowering the limit to {l}",
                            row.activations_active
                        ),
                    ));
                }
                before.insert("activation_limit".into(), row.activation_limit.into());
                after.insert("activation_limit".into(), l.into());
                row.activation_limit = l;
            }
            if let Some(e) = patch.expires_at {
                before.insert("expires_at".into(), expiry_from_db(row.expires_at).map(|t| t.unix_timestamp()).into());
                after.insert("expires_at".into(), e.map(|t| t.unix_timestamp()).into());
                row.expires_at = expiry_to_db(e);
            }
            if let Some(f) = &patch.feature_flags {
                before.insert("feature_flags".into(), parse_json(&row.feature_flags)?.into());
                after.insert("feature_flags".into(), f.clone().into());
                row.feature_flags = json_text(f);
            }
            if let Some(m) = &patch.metadata {
                before.insert("metadata".into(), parse_json(&row.metadata)?.into());
                after.insert("metadata".into(), m.clone().into());
                row.metadata = json_text(m);
            }
            row.updated_at = to_db(now);
            save_license(c, &row)?;
            let changes = details(json!({"before": before, "after": after}));
            log_change(c, now, actor, "license.updated", None, &row, changes.clone())?;
            if let Some(action) = assigned {
                audit::emit(c, now, event_of(action), Some(&row.id), snapshot(&row))?;
            }
            load_view(c, &row.id)
        })
    }

    /// Applies a lifecycle action (`assign`, `suspend`, `unsuspend`, `inactivate`, `reactivate`,
    /// `revoke`). A refused transition changes nothing.
    pub fn act(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        id: Uuid,
        action: LicenseAction,
    ) -> StoreResult<LicenseView> {
        if let LicenseAction::Suspend { reason } = &action {
            let r = reason.trim();
            if r.is_empty() || r.chars().count() > 500 {
                return Err(StoreError::invalid("reason", "must be 1-500 characters"));
            }
        }
        let id = id.to_string();
        self.conn()?.write(|c| {
            let mut row = lock_license(c, &id)?;
            let before_status = row.status.clone();
            let core_action = action.core();
            apply(&mut row, core_action, now)?;
            let mut changes = details(json!({"before": {"status": before_status}, "after": {"status": row.status}}));
            match &action {
                LicenseAction::Assign { customer_id } => {
                    let cid = customer_id.to_string();
                    load_customer(c, &cid).map_err(|_| StoreError::invalid("customer_id", format!("no customer {cid}")))?;
                    let g = load_generator(c, &row.generator_id)?;
                    if (row.expires_at == LIFETIME) && starts_at(&g, ExpiryBasis::Assignment) {
                        row.expires_at = expiry_to_db(validity_from(&g, now));
                    }
                    row.customer_id = Some(cid.clone());
                    changes = details(json!({"before": {"status": before_status, "customer_id": null}, "after": {"status": row.status, "customer_id": cid}}));
                }
                LicenseAction::Suspend { reason } => row.suspended_reason = Some(reason.trim().to_owned()),
                LicenseAction::Unsuspend => row.suspended_reason = None,
                LicenseAction::Revoke => {
                    let n = deactivate_all(c, now, &row.id)?;
                    row.activations_active = 0;
                    changes.insert("activations_deactivated".into(), n.into());
                }
                LicenseAction::Inactivate | LicenseAction::Reactivate => {}
            }
            save_license(c, &row)?;
            let name = event_of(core_action);
            log_change(c, now, actor, name, Some(name), &row, changes)?;
            load_view(c, &row.id)
        })
    }

    /// Moves a license past its term to `expired` (the sweeper, or lazily on validate). Does
    /// nothing and returns `false` if the license is not due or cannot expire any more.
    pub fn expire_if_due(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        id: Uuid,
        grace: Duration,
    ) -> StoreResult<bool> {
        let id = id.to_string();
        self.conn()?
            .write(|c| expire_locked(c, actor, now, &id, grace))
    }

    /// Replaces a license with a new one and a new key (`remint`): same product, generator,
    /// customer, limit, expiry and flags; activations do not carry over.
    pub fn remint(&self, actor: &Actor, now: OffsetDateTime, id: Uuid) -> StoreResult<Created> {
        let id = id.to_string();
        self.conn()?.write(|c| {
            let mut old = lock_license(c, &id)?;
            let before_status = old.status.clone();
            apply(&mut old, Action::Remint, now)?;
            let product = load_product(c, &old.product_id)?;
            let generator = load_generator(c, &old.generator_id)?;
            let format = parse_format(&generator)?;
            let plan = MintPlan {
                product: &product,
                generator: &generator,
                format: &format,
                customer_id: old.customer_id.clone(),
                activation_limit: old.activation_limit,
                expires_at: expiry_from_db(old.expires_at),
                feature_flags: old.feature_flags.clone(),
                metadata: old.metadata.clone(),
            };
            let (mut new_row, key) = mint_row(self, &plan, now, &mut rand::rng());
            new_row.reminted_from = Some(old.id.clone());
            diesel::insert_into(licenses::table)
                .values(&new_row)
                .execute(c)
                .map_err(unique("key"))?;
            diesel::update(licenses::table.find(&new_row.id))
                .set(licenses::reminted_from.eq(&new_row.reminted_from))
                .execute(c)?;
            let n = deactivate_all(c, now, &old.id)?;
            old.activations_active = 0;
            old.reminted_to = Some(new_row.id.clone());
            save_license(c, &old)?;
            let changes = details(json!({
                "before": {"status": before_status},
                "after": {"status": old.status, "reminted_to": new_row.id},
                "activations_deactivated": n,
            }));
            log_change(
                c,
                now,
                actor,
                "license.reminted",
                Some("license.reminted"),
                &old,
                changes,
            )?;
            let created = details(json!({"after": snapshot(&new_row), "reminted_from": old.id}));
            log_change(
                c,
                now,
                actor,
                "license.created",
                Some("license.created"),
                &new_row,
                created,
            )?;
            Ok(Created {
                license: load_view(c, &new_row.id)?,
                key,
            })
        })
    }

    /// Reads a license's full key back (`reveal`), audited.
    pub fn reveal(&self, actor: &Actor, now: OffsetDateTime, id: Uuid) -> StoreResult<LicenseKey> {
        let id_s = id.to_string();
        self.conn()?.write(|c| {
            let row = load_license(c, &id_s)?;
            let key =
                license_core::reveal_key(self.sealer(), id, &row.key_ciphertext).map_err(|_| {
                    StoreError::corrupt("key ciphertext does not open under this master key")
                })?;
            log_change(
                c,
                now,
                actor,
                "license.revealed",
                None,
                &row,
                JsonObject::new(),
            )?;
            Ok(key)
        })
    }

    /// Deletes a license. One that was ever activated needs `force`. The audit entry stays and
    /// the key may be minted again.
    pub fn delete_license(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        id: Uuid,
        force: bool,
    ) -> StoreResult<()> {
        let id = id.to_string();
        self.conn()?.write(|c| {
            let row = lock_license(c, &id)?;
            if row.ever_activated && !force {
                return Err(StoreError::HasActivations);
            }
            diesel::delete(activations::table.filter(activations::license_id.eq(&id)))
                .execute(c)?;
            diesel::delete(licenses::table.find(&id)).execute(c)?;
            let changes = details(json!({"before": snapshot(&row), "force": force}));
            log_change(
                c,
                now,
                actor,
                "license.deleted",
                Some("license.deleted"),
                &row,
                changes,
            )
        })
    }

    /// A license's activations, newest first.
    pub fn license_activations(&self, id: Uuid) -> StoreResult<Vec<Activation>> {
        let id = id.to_string();
        self.conn()?.read(|c| {
            load_license(c, &id)?;
            let rows: Vec<ActivationRow> = activations::table
                .filter(activations::license_id.eq(&id))
                .select(ActivationRow::as_select())
                .order((activations::first_seen_at.desc(), activations::id.desc()))
                .load(c)?;
            rows.into_iter().map(Activation::try_from).collect()
        })
    }

    /// Lists licenses with the filters, search and sort of SPEC §8, in SQL: `(page, total)`.
    pub fn licenses(
        &self,
        filter: &LicenseFilter,
        page: Page,
    ) -> StoreResult<(Vec<LicenseView>, i64)> {
        self.conn()?.read(|c| list(c, filter, page, None))
    }

    /// The next `limit` licenses matching `filter` after license `after`, in creation order,
    /// without a total: keyset paging for exports, so each page costs the same at any depth.
    pub fn licenses_after(
        &self,
        filter: &LicenseFilter,
        after: Option<Uuid>,
        limit: i64,
    ) -> StoreResult<Vec<LicenseView>> {
        let f = LicenseFilter {
            sort: LicenseSort::Created,
            desc: false,
            ..filter.clone()
        };
        let page = Page::new(limit, 0)?;
        let after = Some(after.map_or_else(String::new, |u| u.to_string()));
        self.conn()?
            .read(|c| list(c, &f, page, after).map(|(items, _)| items))
    }
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

/// The search part of a filter, prepared once: digests for an exact key match, and the patterns
/// for partial matches.
struct Search {
    key_from: String,
    key_to: String,
    last4: Option<String>,
    text: String,
}

fn prepare_search(q: &str) -> Search {
    let upper = keys::normalize(q);
    let head: String = upper.chars().take(keys::PREFIX_LEN).collect();
    // Prefix range on key_prefix: [head, head with its last character bumped). Index-backed on
    // both backends, unlike LIKE 'head%' (case rules differ between them).
    let mut key_to = head.clone();
    if let Some(last) = key_to.pop() {
        key_to.push(char::from_u32(u32::from(last) + 1).unwrap_or(char::MAX));
    }
    Search {
        key_from: head,
        key_to,
        last4: (upper.chars().count() == 4).then(|| upper.clone()),
        text: validate::contains_pattern(q.trim()),
    }
}

/// The search of `q` as `licenses.id IN (a UNION of index-driven subqueries)`: one branch per
/// kind of match (key prefix range, last four, product name, customer name or email). Written
/// as SQL text with bound values because the planners of both backends scan the whole table for
/// the equivalent `OR` of conditions, while each branch here is an index search. The product
/// branch is switched off (`AND 1 = 0`) when no product name matches, the usual case:
/// PostgreSQL estimates `product_id IN (...)` over a handful of products as "most licenses" and
/// would then scan.
macro_rules! search_clause {
    ($s:expr, $product_match:expr) => {{
        let s: &Search = $s;
        use diesel::dsl::sql;
        use diesel::sql_types::{Bool, Text};
        sql::<Bool>("licenses.id IN (SELECT id FROM licenses WHERE key_prefix >= ")
            .bind::<Text, _>(s.key_from.clone())
            .sql(" AND key_prefix < ")
            .bind::<Text, _>(s.key_to.clone())
            .sql(" UNION SELECT id FROM licenses WHERE key_last4 = ")
            .bind::<Text, _>(s.last4.clone().unwrap_or_default())
            .sql(if s.last4.is_some() { "" } else { " AND 1 = 0" })
            .sql(
                " UNION SELECT l.id FROM licenses l WHERE l.product_id IN \
                 (SELECT p.id FROM products p WHERE p.search_text LIKE ",
            )
            .bind::<Text, _>(s.text.clone())
            .sql(if $product_match {
                " ESCAPE '\\')"
            } else {
                " ESCAPE '\\') AND 1 = 0"
            })
            .sql(
                " UNION SELECT l.id FROM licenses l WHERE l.customer_id IN \
                 (SELECT c.id FROM customers c WHERE c.search_text LIKE ",
            )
            .bind::<Text, _>(s.text.clone())
            .sql(" ESCAPE '\\'))")
    }};
}

/// One page of the list. `after` switches to keyset paging (ids greater than it, no total).
fn list(
    c: &mut DbConn,
    f: &LicenseFilter,
    page: Page,
    after: Option<String>,
) -> StoreResult<(Vec<LicenseView>, i64)> {
    // A full key: exact digest match only.
    if let Some(q) = f.q.as_deref().filter(|q| !q.trim().is_empty())
        && let Some(row) = find_by_key(c, q)?
    {
        let view = load_view(c, &row.id)?;
        let beyond = after.as_deref().is_none_or(|a| row.id.as_str() > a);
        let keep = beyond && matches_filters(&view, f);
        return Ok(if keep { (vec![view], 1) } else { (vec![], 0) });
    }
    let search =
        f.q.as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .map(prepare_search);
    let product_match = match &search {
        Some(s) => !products::table
            .filter(products::search_text.like(s.text.clone()).escape('\\'))
            .select(products::id)
            .load::<String>(c)?
            .is_empty(),
        None => false,
    };
    // The same filters on two bases: the count needs no join (every filter and the search are
    // on `licenses`), the page joins product and customer.
    macro_rules! filtered {
        ($base:expr) => {{
            let mut q = $base.into_boxed();
            if let Some(p) = f.product {
                q = q.filter(licenses::product_id.eq(p.to_string()));
            }
            if let Some(s) = f.status {
                q = q.filter(licenses::status_rank.eq(i16::from(s.lifecycle_rank())));
            }
            if let Some(cu) = f.customer {
                q = q.filter(licenses::customer_id.eq(cu.to_string()));
            }
            if let Some(t) = f.expires_before {
                q = q.filter(licenses::expires_at.lt(to_db(t)));
            }
            if let Some(t) = f.expires_after {
                q = q.filter(
                    licenses::expires_at
                        .gt(to_db(t))
                        .and(licenses::expires_at.lt(LIFETIME)),
                );
            }
            if let Some(s) = &search {
                q = q.filter(search_clause!(s, product_match));
            }
            if let Some(a) = &after {
                q = q.filter(licenses::id.gt(a.clone()));
            }
            q
        }};
    }
    let total: i64 = match after {
        Some(_) => -1,
        None => filtered!(licenses::table).count().get_result(c)?,
    };
    let joined = licenses::table
        .inner_join(products::table)
        .left_join(customers::table);
    let q = filtered!(joined).select((
        LicenseRow::as_select(),
        ProductRow::as_select(),
        Option::<CustomerRow>::as_select(),
    ));
    use LicenseSort as S;
    let q = match (f.sort, f.desc) {
        // Ids are UUID v7: their order is the order of creation.
        (S::Created, false) => q.order_by(licenses::id.asc()),
        (S::Created, true) => q.order_by(licenses::id.desc()),
        (S::Key, false) => q
            .order_by(licenses::key_prefix.asc())
            .then_order_by(licenses::id.asc()),
        (S::Key, true) => q
            .order_by(licenses::key_prefix.desc())
            .then_order_by(licenses::id.desc()),
        (S::Product, false) => q
            .order_by(products::name.asc())
            .then_order_by(licenses::id.asc()),
        (S::Product, true) => q
            .order_by(products::name.desc())
            .then_order_by(licenses::id.desc()),
        (S::Customer, false) => q
            .order_by(customers::name.asc())
            .then_order_by(licenses::id.asc()),
        (S::Customer, true) => q
            .order_by(customers::name.desc())
            .then_order_by(licenses::id.desc()),
        (S::Status, false) => q
            .order_by(licenses::status_rank.asc())
            .then_order_by(licenses::id.asc()),
        (S::Status, true) => q
            .order_by(licenses::status_rank.desc())
            .then_order_by(licenses::id.desc()),
        (S::Activations, false) => q
            .order_by(licenses::activations_active.asc())
            .then_order_by(licenses::id.asc()),
        (S::Activations, true) => q
            .order_by(licenses::activations_active.desc())
            .then_order_by(licenses::id.desc()),
        // Lifetime licenses are stored as LIFETIME, after every dated one: last ascending,
        // first descending, from the (expires_at, id) index on both backends.
        (S::Expires, false) => q
            .order_by(licenses::expires_at.asc())
            .then_order_by(licenses::id.asc()),
        (S::Expires, true) => q
            .order_by(licenses::expires_at.desc())
            .then_order_by(licenses::id.desc()),
    };
    let rows: Vec<(LicenseRow, ProductRow, Option<CustomerRow>)> =
        q.limit(page.limit).offset(page.offset).load(c)?;
    let items = rows
        .into_iter()
        .map(|(l, p, cu)| LicenseView::from_rows(l, p, cu))
        .collect::<StoreResult<Vec<_>>>()?;
    Ok((items, total))
}

/// Counts for `GET /stats`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Stats {
    pub total: i64,
    /// Every status, in lifecycle order, with its count (zero included).
    pub by_status: Vec<StatusCount>,
    /// Per product: id, code, name, count.
    pub by_product: Vec<ProductCount>,
    /// Licenses with an unlimited activation limit.
    pub unlimited: i64,
    /// Sum of the finite activation limits.
    pub activation_limit_total: i64,
    /// Average of the finite activation limits (0 when there are none).
    pub activation_limit_average: f64,
}

/// One status's license count.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StatusCount {
    pub status: &'static str,
    pub count: i64,
}

/// One product's license count.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ProductCount {
    pub product_id: String,
    pub code: String,
    pub name: String,
    pub count: i64,
}

impl Store {
    /// License counts by status and product, and activation-limit totals, in three grouped
    /// queries.
    pub fn stats(&self) -> StoreResult<Stats> {
        use diesel::dsl::count_star;
        self.conn()?.read(|c| {
            let by_rank: Vec<(i16, i64)> = licenses::table
                .group_by(licenses::status_rank)
                .select((licenses::status_rank, count_star()))
                .load(c)?;
            let by_status = LicenseStatus::ALL
                .iter()
                .map(|st| {
                    let n = by_rank
                        .iter()
                        .find(|(r, _)| *r == i16::from(st.lifecycle_rank()))
                        .map_or(0, |(_, n)| *n);
                    StatusCount {
                        status: st.as_str(),
                        count: n,
                    }
                })
                .collect::<Vec<_>>();
            let by_product = licenses::table
                .inner_join(products::table)
                .group_by((products::id, products::code, products::name))
                .select((products::id, products::code, products::name, count_star()))
                .order(products::name.asc())
                .load::<(String, String, String, i64)>(c)?
                .into_iter()
                .map(|(product_id, code, name, count)| ProductCount {
                    product_id,
                    code,
                    name,
                    count,
                })
                .collect();
            let limits: Vec<(i32, i64)> = licenses::table
                .group_by(licenses::activation_limit)
                .select((licenses::activation_limit, count_star()))
                .load(c)?;
            let (mut finite, mut sum, mut unlimited) = (0i64, 0i64, 0i64);
            for (limit, n) in limits {
                if limit < 0 {
                    unlimited += n;
                } else {
                    finite += n;
                    sum += i64::from(limit) * n;
                }
            }
            Ok(Stats {
                total: by_status.iter().map(|s| s.count).sum(),
                by_status,
                by_product,
                unlimited,
                activation_limit_total: sum,
                activation_limit_average: if finite > 0 {
                    sum as f64 / finite as f64
                } else {
                    0.0
                },
            })
        })
    }
}

/// The non-search filters, applied to one license found by its full key.
fn matches_filters(v: &LicenseView, f: &LicenseFilter) -> bool {
    let l = &v.license;
    f.product.is_none_or(|p| p == l.product_id)
        && f.status.is_none_or(|s| s == l.status)
        && f.customer.is_none_or(|c| Some(c) == l.customer_id)
        && f.expires_before
            .is_none_or(|t| l.expires_at.is_some_and(|e| e < t))
        && f.expires_after
            .is_none_or(|t| l.expires_at.is_some_and(|e| e > t))
}
