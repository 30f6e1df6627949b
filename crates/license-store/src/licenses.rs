//! License use cases (SPEC §4, §8): mint one, read, edit, every lifecycle action, expire,
//! remint, reveal and delete. Each is one transaction that writes the row, its audit entry and
//! its outbox event; the row-level helpers are in `license_rows`.

use diesel::prelude::*;
use license_core::{Action, LicenseKey, LicenseStatus};
use serde_json::json;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::Store;
use crate::audit::{self, Actor, details};
use crate::customers::load_customer;
use crate::error::{StoreError, StoreResult, unique};
use crate::generators::{load_generator, parse_format, starts_at, validity_from};
use crate::license_rows::{
    MintPlan, apply, deactivate_all, event_of, expire_locked, fill_sort_names, load_license,
    load_view, lock_license, log_change, mint_row, parse_status, save_license, snapshot,
};
use crate::model::*;
use crate::products::load_product;
use crate::schema::{activations, licenses};
use crate::validate;

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

impl Store {
    /// Mints one license (`POST /licenses`). With a customer it is the assign action as well.
    pub fn create_license(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        new: NewLicense,
    ) -> StoreResult<Created> {
        let limit = new
            .activation_limit
            .map(|v| validate::activation_limit("activation_limit", v))
            .transpose()?;
        if let Some(t) = new.expires_at {
            validate::expiry("expires_at", t, now)?;
        }
        for (field, v) in [
            ("feature_flags", &new.feature_flags),
            ("metadata", &new.metadata),
        ] {
            if let Some(v) = v {
                validate::object(field, v)?;
            }
        }
        self.write(|c| {
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
            fill_sort_names(c)?;
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
        let limit = patch
            .activation_limit
            .map(|v| validate::activation_limit("activation_limit", v))
            .transpose()?;
        if let Some(Some(t)) = patch.expires_at {
            validate::expiry("expires_at", t, now)?;
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
        self.write(|c| {
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
        self.write(|c| {
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
        self.write(|c| expire_locked(c, actor, now, &id, grace))
    }

    /// Replaces a license with a new one and a new key (`remint`): same product, generator,
    /// customer, limit, expiry and flags; activations do not carry over.
    pub fn remint(&self, actor: &Actor, now: OffsetDateTime, id: Uuid) -> StoreResult<Created> {
        let id = id.to_string();
        self.write(|c| {
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
            fill_sort_names(c)?;
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
        self.write(|c| {
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

    /// Records that an offline file of license `id` was handed out (the preview), bound to
    /// `fingerprint` when one was given (SPEC §6, issue 17 §6).
    pub fn record_offline_file(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        id: Uuid,
        fingerprint: Option<&str>,
    ) -> StoreResult<()> {
        let id_s = id.to_string();
        self.write(|c| {
            let row = load_license(c, &id_s)?;
            let d = crate::audit::details(serde_json::json!({"fingerprint": fingerprint}));
            log_change(c, now, actor, "license.offline_file_issued", None, &row, d)
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
        self.write(|c| {
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
}
