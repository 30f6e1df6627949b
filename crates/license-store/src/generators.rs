//! Generators (SPEC §3): how a product's keys are minted (format) and the defaults its licenses
//! start with (activation limit, validity and when its clock starts, flags, lease TTL). Create,
//! read, list, edit and delete, each change audited in its own transaction.

use diesel::prelude::*;
use license_core::KeyFormat;
use license_core::keys::FormatError;
use serde_json::json;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::audit::{self, Actor, Target, details};
use crate::db::DbConn;
use crate::error::{StoreError, StoreResult};
use crate::limits::MAX_LEASE_TTL_SECONDS;
use crate::model::*;
use crate::products::load_product;
use crate::rows::GeneratorRow;
use crate::schema::{generators, licenses};
use crate::validate;
use crate::{Page, Store};

pub(crate) fn load_generator(c: &mut DbConn, id: &str) -> StoreResult<GeneratorRow> {
    generators::table
        .find(id)
        .select(GeneratorRow::as_select())
        .first(c)
        .optional()?
        .ok_or(StoreError::NotFound {
            entity: "generator",
        })
}

/// The key format a generator mints.
pub(crate) fn parse_format(g: &GeneratorRow) -> StoreResult<KeyFormat> {
    serde_json::from_str(&g.format)
        .map_err(|e| StoreError::corrupt(format!("generator format: {e}")))
}

/// Whether the generator's clock starts at this basis.
pub(crate) fn starts_at(g: &GeneratorRow, basis: ExpiryBasis) -> bool {
    g.expiry_basis == basis.as_str()
}

/// The expiry a license gets when its generator's validity clock starts now.
pub(crate) fn validity_from(g: &GeneratorRow, now: OffsetDateTime) -> Option<OffsetDateTime> {
    g.default_validity_days
        .map(|d| now + Duration::days(i64::from(d)))
}

/// A new generator; defaults per SPEC §3 where `None`.
#[derive(Debug, Clone)]
pub struct NewGenerator {
    pub product_id: Uuid,
    pub name: String,
    pub format: KeyFormat,
    pub default_activation_limit: Option<i64>,
    pub default_validity_days: Option<i64>,
    pub expiry_basis: Option<ExpiryBasis>,
    pub default_feature_flags: Option<JsonObject>,
    pub lease_ttl_seconds: Option<i64>,
}

/// Changes to a generator. Its product and format never change (keys already minted by it
/// would no longer match it).
#[derive(Debug, Clone, Default)]
pub struct GeneratorPatch {
    pub name: Option<String>,
    pub default_activation_limit: Option<i64>,
    /// `Some(None)` makes new licenses lifetime.
    pub default_validity_days: Option<Option<i64>>,
    pub expiry_basis: Option<ExpiryBasis>,
    pub default_feature_flags: Option<JsonObject>,
    pub lease_ttl_seconds: Option<i64>,
}

fn check_validity(v: i64) -> StoreResult<i32> {
    if (1..=36_500).contains(&v) {
        Ok(v as i32)
    } else {
        Err(StoreError::invalid(
            "default_validity_days",
            format!("must be 1..=36500 or null (lifetime), got {v}"),
        ))
    }
}

fn check_ttl(v: i64) -> StoreResult<i32> {
    if (60..=i64::from(MAX_LEASE_TTL_SECONDS)).contains(&v) {
        Ok(v as i32)
    } else {
        Err(StoreError::invalid(
            "lease_ttl_seconds",
            format!("must be 60..=604800 (7 days), got {v}"),
        ))
    }
}

/// Checks a key format as creating a generator would (`WEAK_KEY_FORMAT`, or 422 on `format`).
pub fn check_format(format: &KeyFormat) -> StoreResult<()> {
    format.validate().map_err(format_error)
}

fn format_error(e: FormatError) -> StoreError {
    match e {
        FormatError::Weak { .. } => StoreError::WeakKeyFormat(e.to_string()),
        FormatError::Invalid { .. } | FormatError::ProductCode(_) => {
            StoreError::invalid("format", e.to_string())
        }
    }
}

impl Store {
    /// Creates a generator for an existing product.
    pub fn create_generator(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        new: NewGenerator,
    ) -> StoreResult<Generator> {
        let name = validate::name("name", &new.name)?;
        check_format(&new.format)?;
        let limit = validate::activation_limit(
            "default_activation_limit",
            new.default_activation_limit.unwrap_or(1),
        )?;
        let validity = new.default_validity_days.map(check_validity).transpose()?;
        let ttl = check_ttl(
            new.lease_ttl_seconds
                .unwrap_or(i64::from(MAX_LEASE_TTL_SECONDS)),
        )?;
        let flags = new.default_feature_flags.unwrap_or_default();
        validate::object("default_feature_flags", &flags)?;
        let format = serde_json::to_string(&new.format).map_err(StoreError::corrupt)?;
        let row = GeneratorRow {
            id: new_id(),
            product_id: new.product_id.to_string(),
            name,
            format,
            default_activation_limit: limit,
            default_validity_days: validity,
            expiry_basis: new
                .expiry_basis
                .unwrap_or(ExpiryBasis::Creation)
                .as_str()
                .into(),
            default_feature_flags: json_text(&flags),
            lease_ttl_seconds: ttl,
            created_at: to_db(now),
            updated_at: to_db(now),
        };
        self.write(|c| {
            load_product(c, &row.product_id).map_err(|_| {
                StoreError::invalid("product_id", format!("no product {}", row.product_id))
            })?;
            diesel::insert_into(generators::table).values(&row).execute(c)?;
            let target = Target { kind: "generator", id: &row.id, key_hint: None };
            let d = details(json!({"after": {"name": row.name, "product_id": row.product_id, "format": new.format}}));
            audit::record(c, now, actor, "generator.created", target, d)?;
            Generator::try_from(row.clone())
        })
    }

    /// One generator.
    pub fn generator(&self, id: Uuid) -> StoreResult<Generator> {
        Generator::try_from(load_generator(&mut *self.conn()?, &id.to_string())?)
    }

    /// Generators, optionally of one product.
    pub fn generators(
        &self,
        product: Option<Uuid>,
        page: Page,
    ) -> StoreResult<(Vec<Generator>, i64)> {
        let query = || {
            let mut q = generators::table.into_boxed();
            if let Some(p) = product {
                q = q.filter(generators::product_id.eq(p.to_string()));
            }
            q
        };
        self.conn()?.read(|c| {
            let total = query().count().get_result(c)?;
            let rows: Vec<GeneratorRow> = query()
                .select(GeneratorRow::as_select())
                .order((generators::name.asc(), generators::id.asc()))
                .limit(page.limit)
                .offset(page.offset)
                .load(c)?;
            let items = rows
                .into_iter()
                .map(Generator::try_from)
                .collect::<StoreResult<_>>()?;
            Ok((items, total))
        })
    }

    /// Edits a generator's defaults (they apply to licenses minted afterwards).
    pub fn update_generator(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        id: Uuid,
        patch: GeneratorPatch,
    ) -> StoreResult<Generator> {
        let name = patch
            .name
            .as_deref()
            .map(|n| validate::name("name", n))
            .transpose()?;
        let limit = patch
            .default_activation_limit
            .map(|l| validate::activation_limit("default_activation_limit", l))
            .transpose()?;
        let validity = patch
            .default_validity_days
            .map(|v| v.map(check_validity).transpose())
            .transpose()?;
        let ttl = patch.lease_ttl_seconds.map(check_ttl).transpose()?;
        if let Some(f) = &patch.default_feature_flags {
            validate::object("default_feature_flags", f)?;
        }
        self.write(|c| {
            let mut row = load_generator(c, &id.to_string())?;
            let before = Generator::try_from(row.clone())?;
            if let Some(n) = name {
                row.name = n;
            }
            if let Some(l) = limit {
                row.default_activation_limit = l;
            }
            if let Some(v) = validity {
                row.default_validity_days = v;
            }
            if let Some(b) = patch.expiry_basis {
                row.expiry_basis = b.as_str().into();
            }
            if let Some(f) = &patch.default_feature_flags {
                row.default_feature_flags = json_text(f);
            }
            if let Some(t) = ttl {
                row.lease_ttl_seconds = t;
            }
            row.updated_at = to_db(now);
            diesel::update(generators::table.find(&row.id))
                .set((
                    generators::name.eq(&row.name),
                    generators::default_activation_limit.eq(row.default_activation_limit),
                    generators::default_validity_days.eq(row.default_validity_days),
                    generators::expiry_basis.eq(&row.expiry_basis),
                    generators::default_feature_flags.eq(&row.default_feature_flags),
                    generators::lease_ttl_seconds.eq(row.lease_ttl_seconds),
                    generators::updated_at.eq(row.updated_at),
                ))
                .execute(c)?;
            let after = Generator::try_from(row)?;
            let target = Target {
                kind: "generator",
                id: &id.to_string(),
                key_hint: None,
            };
            let d = details(json!({"before": before, "after": after}));
            audit::record(c, now, actor, "generator.updated", target, d)?;
            Ok(after)
        })
    }

    /// Deletes a generator no license was minted from.
    pub fn delete_generator(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        id: Uuid,
    ) -> StoreResult<()> {
        let id = id.to_string();
        self.write(|c| {
            let row = load_generator(c, &id)?;
            if licenses::table
                .filter(licenses::generator_id.eq(&id))
                .count()
                .get_result::<i64>(c)?
                > 0
            {
                return Err(StoreError::InUse {
                    entity: "generator",
                    by: "licenses",
                });
            }
            diesel::delete(generators::table.find(&id)).execute(c)?;
            let target = Target {
                kind: "generator",
                id: &id,
                key_hint: None,
            };
            audit::record(
                c,
                now,
                actor,
                "generator.deleted",
                target,
                details(json!({"before": {"name": row.name}})),
            )
        })
    }
}
