//! Customers (SPEC §3): who licenses are assigned to, unique by email (case-insensitive).
//! Create (one or a batch), read, search, edit and delete, each change audited in its
//! transaction.

use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::{self, Actor, Target, details};
use crate::db::DbConn;
use crate::error::{StoreError, StoreResult, unique};
use crate::limits::MAX_BATCH;
use crate::model::*;
use crate::rows::CustomerRow;
use crate::schema::{customers, licenses, portal_links, portal_sessions};
use crate::validate;
use crate::{Page, Store};

pub(crate) fn load_customer(c: &mut DbConn, id: &str) -> StoreResult<CustomerRow> {
    customers::table
        .find(id)
        .select(CustomerRow::as_select())
        .first(c)
        .optional()?
        .ok_or(StoreError::NotFound { entity: "customer" })
}

/// Ends customer `id`'s portal sessions and voids their unused sign-in links (access taken
/// away, or their email changed: the old address holder must not stay signed in).
pub(crate) fn sign_out_everywhere(c: &mut DbConn, id: &str) -> StoreResult<()> {
    diesel::delete(portal_sessions::table.filter(portal_sessions::customer_id.eq(id)))
        .execute(c)?;
    diesel::delete(
        portal_links::table
            .filter(portal_links::customer_id.eq(id))
            .filter(portal_links::used_at.is_null()),
    )
    .execute(c)?;
    Ok(())
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

impl Store {
    /// Creates a customer (email unique, case-insensitive).
    pub fn create_customer(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        new: NewCustomer,
    ) -> StoreResult<Customer> {
        let row = customer_row(new, now)?;
        self.write(|c| {
            insert_customer(c, &row)?;
            log_created(c, now, actor, &row, None)?;
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
        if new.len() > MAX_BATCH {
            return Err(StoreError::invalid("customers", "at most 500 per call"));
        }
        let rows = new
            .into_iter()
            .map(|n| customer_row(n, now))
            .collect::<StoreResult<Vec<_>>>()?;
        self.write(|c| {
            crate::db::insert_many!(c, customers::table, &rows).map_err(unique("email"))?;
            for row in &rows {
                log_created(c, now, actor, row, None)?;
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
        self.write(|c| {
            let mut row = load_customer(c, &id.to_string())?;
            let before = json!({"name": row.name, "email": row.email});
            let old_email = row.email_lower.clone();
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
            if row.email_lower != old_email {
                // Whoever holds the old address is signed out of the portal; mail queued for
                // it is given up when rendered (its recipient is no longer the customer's).
                sign_out_everywhere(c, &row.id)?;
            }
            // The name each of its licenses sorts by.
            diesel::update(licenses::table.filter(licenses::customer_id.eq(&row.id)))
                .set(licenses::customer_sort.eq(&row.name))
                .execute(c)?;
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
        self.write(|c| {
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

/// Audits a customer's creation; `source` names where it came from when not the API (`import`).
pub(crate) fn log_created(
    c: &mut DbConn,
    now: OffsetDateTime,
    actor: &Actor,
    row: &CustomerRow,
    source: Option<&str>,
) -> StoreResult<()> {
    let target = Target {
        kind: "customer",
        id: &row.id,
        key_hint: None,
    };
    let mut d = details(json!({"after": {"name": row.name, "email": row.email}}));
    if let Some(source) = source {
        d.insert("source".into(), source.into());
    }
    audit::record(c, now, actor, "customer.created", target, d)
}
