//! Bulk assignment from a CSV import (`POST /licenses/import`): every row in one transaction,
//! all or nothing; a dry run does the same work and rolls it back, so it reports exactly what a
//! real run would do.

use diesel::prelude::*;
use license_core::{Action, DigestKey, LicenseStatus};
use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Store;
use crate::audit::{Actor, details};
use crate::customers::{NewCustomer, customer_row, insert_customer, log_created};
use crate::db::DbConn;
use crate::error::{StoreError, StoreResult};
use crate::generators::{load_generator, starts_at, validity_from};
use crate::license_rows::{
    apply, event_of, find_by_key, load_license, lock_license, log_change, parse_status,
    save_license,
};
use crate::model::{ExpiryBasis, LIFETIME, expiry_to_db};
use crate::rows::{CustomerRow, LicenseRow};
use crate::schema::customers;

/// One row of the import: a license (by key or id) and the customer to give it to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    /// 1-based line in the file (for the report).
    pub line: usize,
    pub key: Option<String>,
    pub license_id: Option<Uuid>,
    pub customer_email: String,
    pub customer_name: Option<String>,
}

/// What happened (or would happen) to one row.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RowReport {
    pub line: usize,
    pub license_id: Option<Uuid>,
    pub key_display: Option<String>,
    pub customer_email: String,
    /// `assign`, `reassign`, `unchanged`, or `error`.
    pub action: &'static str,
    pub customer_created: bool,
    pub error: Option<String>,
}

/// The report of an import.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportReport {
    pub dry_run: bool,
    /// Whether the changes were committed (no errors and not a dry run).
    pub applied: bool,
    pub rows: usize,
    pub errors: usize,
    pub assigned: usize,
    pub reassigned: usize,
    pub unchanged: usize,
    pub customers_created: usize,
    pub results: Vec<RowReport>,
}

fn find_customer(c: &mut DbConn, email: &str) -> StoreResult<Option<CustomerRow>> {
    Ok(customers::table
        .filter(customers::email_lower.eq(email.trim().to_lowercase()))
        .select(CustomerRow::as_select())
        .first(c)
        .optional()?)
}

fn locate(
    digests: &DigestKey,
    c: &mut DbConn,
    row: &ImportRow,
) -> StoreResult<Result<LicenseRow, String>> {
    let found = match (&row.key, row.license_id) {
        (Some(k), _) if !k.trim().is_empty() => find_by_key(digests, c, k)?,
        (_, Some(id)) => match load_license(c, &id.to_string()) {
            Ok(l) => Some(l),
            Err(StoreError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        },
        _ => return Ok(Err("key or license_id is required".into())),
    };
    Ok(found.ok_or_else(|| "no such license".to_owned()))
}

/// Creates the customer a row names (audited as from the import), or says why it cannot.
fn create_customer(
    c: &mut DbConn,
    actor: &Actor,
    now: OffsetDateTime,
    row: &ImportRow,
) -> StoreResult<Result<CustomerRow, String>> {
    let Some(name) = row.customer_name.clone().filter(|n| !n.trim().is_empty()) else {
        return Ok(Err(
            "customer_name: required to create a new customer".into()
        ));
    };
    let new = NewCustomer {
        name,
        email: row.customer_email.clone(),
        metadata: None,
    };
    let cu = match customer_row(new, now) {
        Ok(cu) => cu,
        Err(e) => return Ok(Err(e.to_string())),
    };
    insert_customer(c, &cu)?;
    log_created(c, now, actor, &cu, Some("import"))?;
    Ok(Ok(cu))
}

/// Applies one row inside the import's transaction.
fn import_row(
    digests: &DigestKey,
    c: &mut DbConn,
    actor: &Actor,
    now: OffsetDateTime,
    row: &ImportRow,
) -> StoreResult<RowReport> {
    let mut report = RowReport {
        line: row.line,
        license_id: None,
        key_display: None,
        customer_email: row.customer_email.trim().to_owned(),
        action: "error",
        customer_created: false,
        error: None,
    };
    let found = match locate(digests, c, row)? {
        Ok(l) => l,
        Err(e) => {
            report.error = Some(e);
            return Ok(report);
        }
    };
    let mut l = lock_license(c, &found.id)?;
    report.license_id = Uuid::parse_str(&l.id).ok();
    report.key_display = Some(l.key_display.clone());
    let status = parse_status(&l)?;
    if !status.is_editable() {
        report.error = Some(format!("license is {status} and cannot be assigned"));
        return Ok(report);
    }
    let customer = match find_customer(c, &row.customer_email)? {
        Some(cu) => cu,
        None => match create_customer(c, actor, now, row)? {
            Ok(cu) => {
                report.customer_created = true;
                cu
            }
            Err(e) => {
                report.error = Some(e);
                return Ok(report);
            }
        },
    };
    if l.customer_id.as_deref() == Some(customer.id.as_str()) {
        report.action = "unchanged";
        return Ok(report);
    }
    let action = if status == LicenseStatus::Available {
        Action::Assign
    } else {
        Action::ChangeCustomer
    };
    let before = l.customer_id.clone();
    apply(&mut l, action, now)?;
    if action == Action::Assign && l.expires_at == LIFETIME {
        let g = load_generator(c, &l.generator_id)?;
        if starts_at(&g, ExpiryBasis::Assignment) {
            l.expires_at = expiry_to_db(validity_from(&g, now));
        }
    }
    l.customer_id = Some(customer.id.clone());
    save_license(c, &l)?;
    let changes = details(json!({
        "before": {"customer_id": before, "status": status.as_str()},
        "after": {"customer_id": l.customer_id, "status": l.status},
        "source": "import",
    }));
    log_change(
        c,
        now,
        actor,
        "license.assigned",
        Some(event_of(action)),
        &l,
        changes,
    )?;
    report.action = if action == Action::Assign {
        "assign"
    } else {
        "reassign"
    };
    Ok(report)
}

impl Store {
    /// Imports assignments: all rows in one transaction, committed only when every row is good
    /// and this is not a dry run.
    pub fn import_assignments(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        rows: &[ImportRow],
        dry_run: bool,
    ) -> StoreResult<ImportReport> {
        let mut results = Vec::with_capacity(rows.len());
        let outcome = self.conn()?.write(|c| {
            for row in rows {
                results.push(import_row(self.digests(), c, actor, now, row)?);
            }
            let failed = results.iter().any(|r| r.error.is_some());
            if failed || dry_run {
                Err(StoreError::RolledBack)
            } else {
                Ok(())
            }
        });
        let applied = match outcome {
            Ok(()) => true,
            Err(StoreError::RolledBack) => false,
            Err(e) => return Err(e),
        };
        let count = |a: &str| results.iter().filter(|r| r.action == a).count();
        Ok(ImportReport {
            dry_run,
            applied,
            rows: results.len(),
            errors: count("error"),
            assigned: count("assign"),
            reassigned: count("reassign"),
            unchanged: count("unchanged"),
            customers_created: results.iter().filter(|r| r.customer_created).count(),
            results,
        })
    }
}
