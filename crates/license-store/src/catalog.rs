//! Products, generators and customers: create, read, update, delete with the rules of SPEC §3.
//! Each change is audited in its own transaction.

use diesel::prelude::*;
use license_core::keys::validate_product_code;
use license_core::{ActivationLimit, KeyFormat, keys::FormatError};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::{self, Actor, Target};
use crate::db::DbConn;
use crate::error::{StoreError, StoreResult};
use crate::model::*;
use crate::rows::{CustomerRow, GeneratorRow, ProductRow};
use crate::schema::{customers, generators, licenses, products};
use crate::validate;
use crate::{Page, Store};

/// The longest a lease may be trusted offline, in seconds (7 days).
pub const MAX_LEASE_TTL_SECONDS: i32 = 604_800;

pub(crate) fn details(pairs: serde_json::Value) -> JsonObject {
    match pairs {
        serde_json::Value::Object(m) => m,
        _ => JsonObject::new(),
    }
}

fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

/// Maps a unique violation on insert/update to `Duplicate { field }`.
pub(crate) fn unique(field: &'static str) -> impl Fn(diesel::result::Error) -> StoreError {
    move |e| {
        if is_unique_violation(&e) {
            StoreError::Duplicate { field }
        } else {
            StoreError::from(e)
        }
    }
}

pub(crate) fn load_product(c: &mut DbConn, id: &str) -> StoreResult<ProductRow> {
    products::table
        .find(id)
        .select(ProductRow::as_select())
        .first(c)
        .optional()?
        .ok_or(StoreError::NotFound { entity: "product" })
}

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

pub(crate) fn load_customer(c: &mut DbConn, id: &str) -> StoreResult<CustomerRow> {
    customers::table
        .find(id)
        .select(CustomerRow::as_select())
        .first(c)
        .optional()?
        .ok_or(StoreError::NotFound { entity: "customer" })
}

/// A new product.
#[derive(Debug, Clone, Default)]
pub struct NewProduct {
    pub name: String,
    pub code: String,
    pub metadata: Option<JsonObject>,
}

/// Changes to a product; `None` leaves a field as it is. The code is the key prefix of minted
/// keys and never changes.
#[derive(Debug, Clone, Default)]
pub struct ProductPatch {
    pub name: Option<String>,
    pub status: Option<ProductStatus>,
    pub metadata: Option<JsonObject>,
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

/// A new customer.
#[derive(Debug, Clone, Default)]
pub struct NewCustomer {
    pub name: String,
    pub email: String,
    pub metadata: Option<JsonObject>,
}

/// Changes to a customer.
#[derive(Debug, Clone, Default)]
pub struct CustomerPatch {
    pub name: Option<String>,
    pub email: Option<String>,
    pub metadata: Option<JsonObject>,
}

fn check_limit(field: &'static str, v: i64) -> StoreResult<i32> {
    ActivationLimit::new(v)
        .map(ActivationLimit::get)
        .map_err(|e| StoreError::invalid(field, e.to_string().replace("activation_limit ", "")))
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

fn format_error(e: FormatError) -> StoreError {
    match e {
        FormatError::Weak { .. } => StoreError::WeakKeyFormat(e.to_string()),
        FormatError::Invalid { .. } | FormatError::ProductCode(_) => {
            StoreError::invalid("format", e.to_string())
        }
    }
}

impl Store {
    /// Creates a product (code unique, 2–8 of `A-Z0-9`).
    pub fn create_product(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        new: NewProduct,
    ) -> StoreResult<Product> {
        let name = validate::name("name", &new.name)?;
        validate_product_code(&new.code).map_err(|e| StoreError::invalid("code", e.to_string()))?;
        let metadata = new.metadata.unwrap_or_default();
        validate::object("metadata", &metadata)?;
        let row = ProductRow {
            id: new_id(),
            search_text: validate::search_text(&[&name]),
            name,
            code: new.code,
            status: ProductStatus::Active.as_str().into(),
            metadata: json_text(&metadata),
            created_at: to_db(now),
            updated_at: to_db(now),
        };
        self.conn()?.write(|c| {
            diesel::insert_into(products::table)
                .values(&row)
                .execute(c)
                .map_err(unique("code"))?;
            let target = Target {
                kind: "product",
                id: &row.id,
                key_hint: None,
            };
            let d = details(json!({"after": {"name": row.name, "code": row.code}}));
            audit::record(c, now, actor, "product.created", target, d)?;
            Product::try_from(row.clone())
        })
    }

    /// One product.
    pub fn product(&self, id: Uuid) -> StoreResult<Product> {
        let row = load_product(&mut *self.conn()?, &id.to_string())?;
        Product::try_from(row)
    }

    /// Every product, by name.
    pub fn products(&self, page: Page) -> StoreResult<(Vec<Product>, i64)> {
        self.conn()?.read(|c| {
            let total = products::table.count().get_result(c)?;
            let rows: Vec<ProductRow> = products::table
                .select(ProductRow::as_select())
                .order((products::name.asc(), products::id.asc()))
                .limit(page.limit)
                .offset(page.offset)
                .load(c)?;
            let items = rows
                .into_iter()
                .map(Product::try_from)
                .collect::<StoreResult<_>>()?;
            Ok((items, total))
        })
    }

    /// Edits a product.
    pub fn update_product(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        id: Uuid,
        patch: ProductPatch,
    ) -> StoreResult<Product> {
        let name = patch
            .name
            .as_deref()
            .map(|n| validate::name("name", n))
            .transpose()?;
        if let Some(m) = &patch.metadata {
            validate::object("metadata", m)?;
        }
        self.conn()?.write(|c| {
            let mut row = load_product(c, &id.to_string())?;
            let before = json!({"name": row.name, "status": row.status});
            if let Some(n) = name {
                row.search_text = validate::search_text(&[&n]);
                row.name = n;
            }
            if let Some(s) = patch.status {
                row.status = s.as_str().into();
            }
            if let Some(m) = &patch.metadata {
                row.metadata = json_text(m);
            }
            row.updated_at = to_db(now);
            diesel::update(products::table.find(&row.id))
                .set((
                    products::name.eq(&row.name),
                    products::search_text.eq(&row.search_text),
                    products::status.eq(&row.status),
                    products::metadata.eq(&row.metadata),
                    products::updated_at.eq(row.updated_at),
                ))
                .execute(c)?;
            let after = json!({"name": row.name, "status": row.status});
            let target = Target {
                kind: "product",
                id: &row.id,
                key_hint: None,
            };
            audit::record(
                c,
                now,
                actor,
                "product.updated",
                target,
                details(json!({"before": before, "after": after})),
            )?;
            Product::try_from(row)
        })
    }

    /// Deletes a product nothing refers to.
    pub fn delete_product(&self, actor: &Actor, now: OffsetDateTime, id: Uuid) -> StoreResult<()> {
        let id = id.to_string();
        self.conn()?.write(|c| {
            let row = load_product(c, &id)?;
            if generators::table
                .filter(generators::product_id.eq(&id))
                .count()
                .get_result::<i64>(c)?
                > 0
            {
                return Err(StoreError::InUse {
                    entity: "product",
                    by: "generators",
                });
            }
            if licenses::table
                .filter(licenses::product_id.eq(&id))
                .count()
                .get_result::<i64>(c)?
                > 0
            {
                return Err(StoreError::InUse {
                    entity: "product",
                    by: "licenses",
                });
            }
            diesel::delete(products::table.find(&id)).execute(c)?;
            let target = Target {
                kind: "product",
                id: &id,
                key_hint: None,
            };
            audit::record(
                c,
                now,
                actor,
                "product.deleted",
                target,
                details(json!({"before": {"name": row.name, "code": row.code}})),
            )
        })
    }

    /// Creates a generator for an existing product.
    pub fn create_generator(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        new: NewGenerator,
    ) -> StoreResult<Generator> {
        let name = validate::name("name", &new.name)?;
        new.format.validate().map_err(format_error)?;
        let limit = check_limit(
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
        self.conn()?.write(|c| {
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
            .map(|l| check_limit("default_activation_limit", l))
            .transpose()?;
        let validity = patch
            .default_validity_days
            .map(|v| v.map(check_validity).transpose())
            .transpose()?;
        let ttl = patch.lease_ttl_seconds.map(check_ttl).transpose()?;
        if let Some(f) = &patch.default_feature_flags {
            validate::object("default_feature_flags", f)?;
        }
        self.conn()?.write(|c| {
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
        self.conn()?.write(|c| {
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

    /// Creates a customer (email unique, case-insensitive).
    pub fn create_customer(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        new: NewCustomer,
    ) -> StoreResult<Customer> {
        let row = customer_row(new, now)?;
        self.conn()?.write(|c| {
            insert_customer(c, &row)?;
            let target = Target {
                kind: "customer",
                id: &row.id,
                key_hint: None,
            };
            let d = details(json!({"after": {"name": row.name, "email": row.email}}));
            audit::record(c, now, actor, "customer.created", target, d)?;
            Customer::try_from(row.clone())
        })
    }

    /// Creates up to 500 customers in one transaction (imports, seeding); all or nothing.
    pub fn create_customers(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        new: Vec<NewCustomer>,
    ) -> StoreResult<Vec<Customer>> {
        if new.len() > crate::mint::MAX_BATCH {
            return Err(StoreError::invalid("customers", "at most 500 per call"));
        }
        let rows = new
            .into_iter()
            .map(|n| customer_row(n, now))
            .collect::<StoreResult<Vec<_>>>()?;
        self.conn()?.write(|c| {
            crate::db::insert_many!(c, customers::table, &rows).map_err(unique("email"))?;
            for row in &rows {
                let target = Target {
                    kind: "customer",
                    id: &row.id,
                    key_hint: None,
                };
                let d = details(json!({"after": {"name": row.name, "email": row.email}}));
                audit::record(c, now, actor, "customer.created", target, d)?;
            }
            rows.into_iter().map(Customer::try_from).collect()
        })
    }

    /// One customer.
    pub fn customer(&self, id: Uuid) -> StoreResult<Customer> {
        Customer::try_from(load_customer(&mut *self.conn()?, &id.to_string())?)
    }

    /// Customers, optionally matching `q` in name or email, by name.
    pub fn customers(&self, q: Option<&str>, page: Page) -> StoreResult<(Vec<Customer>, i64)> {
        let pattern = q.map(validate::contains_pattern);
        let query = || {
            let mut b = customers::table.into_boxed();
            if let Some(p) = &pattern {
                b = b.filter(customers::search_text.like(p.clone()).escape('\\'));
            }
            b
        };
        self.conn()?.read(|c| {
            let total = query().count().get_result(c)?;
            let rows: Vec<CustomerRow> = query()
                .select(CustomerRow::as_select())
                .order((customers::name.asc(), customers::id.asc()))
                .limit(page.limit)
                .offset(page.offset)
                .load(c)?;
            let items = rows
                .into_iter()
                .map(Customer::try_from)
                .collect::<StoreResult<_>>()?;
            Ok((items, total))
        })
    }

    /// Edits a customer.
    pub fn update_customer(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        id: Uuid,
        patch: CustomerPatch,
    ) -> StoreResult<Customer> {
        let name = patch
            .name
            .as_deref()
            .map(|n| validate::name("name", n))
            .transpose()?;
        let email = patch.email.as_deref().map(validate::email).transpose()?;
        if let Some(m) = &patch.metadata {
            validate::object("metadata", m)?;
        }
        self.conn()?.write(|c| {
            let mut row = load_customer(c, &id.to_string())?;
            let before = json!({"name": row.name, "email": row.email});
            if let Some(n) = name {
                row.name = n;
            }
            if let Some(e) = email {
                row.email_lower = e.to_lowercase();
                row.email = e;
            }
            if let Some(m) = &patch.metadata {
                row.metadata = json_text(m);
            }
            row.search_text = validate::search_text(&[&row.name, &row.email]);
            row.updated_at = to_db(now);
            diesel::update(customers::table.find(&row.id))
                .set((
                    customers::name.eq(&row.name),
                    customers::email.eq(&row.email),
                    customers::email_lower.eq(&row.email_lower),
                    customers::search_text.eq(&row.search_text),
                    customers::metadata.eq(&row.metadata),
                    customers::updated_at.eq(row.updated_at),
                ))
                .execute(c)
                .map_err(unique("email"))?;
            let after = json!({"name": row.name, "email": row.email});
            let target = Target {
                kind: "customer",
                id: &row.id,
                key_hint: None,
            };
            audit::record(
                c,
                now,
                actor,
                "customer.updated",
                target,
                details(json!({"before": before, "after": after})),
            )?;
            Customer::try_from(row)
        })
    }

    /// Deletes a customer who holds no license.
    pub fn delete_customer(&self, actor: &Actor, now: OffsetDateTime, id: Uuid) -> StoreResult<()> {
        let id = id.to_string();
        self.conn()?.write(|c| {
            let row = load_customer(c, &id)?;
            if licenses::table
                .filter(licenses::customer_id.eq(&id))
                .count()
                .get_result::<i64>(c)?
                > 0
            {
                return Err(StoreError::InUse {
                    entity: "customer",
                    by: "licenses",
                });
            }
            diesel::delete(customers::table.find(&id)).execute(c)?;
            let target = Target {
                kind: "customer",
                id: &id,
                key_hint: None,
            };
            audit::record(
                c,
                now,
                actor,
                "customer.deleted",
                target,
                details(json!({"before": {"name": row.name, "email": row.email}})),
            )
        })
    }
}

/// A checked, ready-to-insert customer row.
pub(crate) fn customer_row(new: NewCustomer, now: OffsetDateTime) -> StoreResult<CustomerRow> {
    let name = validate::name("name", &new.name)?;
    let email = validate::email(&new.email)?;
    let metadata = new.metadata.unwrap_or_default();
    validate::object("metadata", &metadata)?;
    Ok(CustomerRow {
        id: new_id(),
        email_lower: email.to_lowercase(),
        search_text: validate::search_text(&[&name, &email]),
        name,
        email,
        metadata: json_text(&metadata),
        created_at: to_db(now),
        updated_at: to_db(now),
    })
}

pub(crate) fn insert_customer(c: &mut DbConn, row: &CustomerRow) -> StoreResult<()> {
    diesel::insert_into(customers::table)
        .values(row)
        .execute(c)
        .map_err(unique("email"))?;
    Ok(())
}
