//! Products (SPEC §3): the things licensed, each with the code that prefixes its keys. Create,
//! read, list, edit and delete, each change audited in its own transaction.

use diesel::prelude::*;
use license_core::keys::validate_product_code;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::{self, Actor, Target, details};
use crate::db::DbConn;
use crate::error::{StoreError, StoreResult, unique};
use crate::model::*;
use crate::rows::ProductRow;
use crate::schema::{generators, licenses, products};
use crate::validate;
use crate::{Page, Store};

pub(crate) fn load_product(c: &mut DbConn, id: &str) -> StoreResult<ProductRow> {
    products::table
        .find(id)
        .select(ProductRow::as_select())
        .first(c)
        .optional()?
        .ok_or(StoreError::NotFound { entity: "product" })
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
        self.write(|c| {
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
        self.write(|c| {
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
            // The name each of its licenses sorts by.
            diesel::update(licenses::table.filter(licenses::product_id.eq(&row.id)))
                .set(licenses::product_sort.eq(&row.name))
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
        self.write(|c| {
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
}
