//! Bulk assignment from a CSV import (`POST /licenses/import`), all or nothing (SPEC §8) without
//! holding the write lock for the whole file:
//!
//! 1. **Plan**: every row is checked with reads only (one read transaction, no write lock), the
//!    effects of earlier rows on later ones simulated (a license listed twice, a customer the
//!    file creates and then reuses). A dry run stops here; so does a file with any row error —
//!    nothing is written.
//! 2. **Apply**: in batches of [`MAX_BATCH`] rows, each its own short write transaction, so
//!    activations and other writers get the lock between batches. Each row is checked again as
//!    it is written. A row the plan passed but that fails now (a license revoked or a customer
//!    created by someone else in between) rolls its batch back and stops the import; the report
//!    says which rows were applied (`rows_applied`). Assignments are idempotent (a row already
//!    applied is `unchanged`), so sending the same file again finishes the job.

use std::collections::HashMap;

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
use crate::limits::MAX_BATCH;
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
    /// `assign`, `reassign`, `unchanged`, `error`, or `not_applied` (the import stopped
    /// before this row: a license changed between the check and the write).
    pub action: &'static str,
    pub customer_created: bool,
    pub error: Option<String>,
}

impl RowReport {
    /// The report of `row` before anything is known of it, with `action`.
    fn of(row: &ImportRow, action: &'static str) -> Self {
        Self {
            line: row.line,
            license_id: None,
            key_display: None,
            customer_email: row.customer_email.trim().to_owned(),
            action,
            customer_created: false,
            error: None,
        }
    }
}

/// The report of an import.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportReport {
    pub dry_run: bool,
    /// Whether every change was committed (no errors and not a dry run).
    pub applied: bool,
    /// Rows committed: all of them when `applied`; fewer when a license changed between the
    /// check and the write (send the file again to finish: applied rows come back `unchanged`).
    pub rows_applied: usize,
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
    let mut report = RowReport::of(row, "error");
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

/// A customer as the plan knows it: one that exists, or one this import creates (by email).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Who {
    Existing(String),
    New(String),
}

/// What earlier rows of the file changed, as the plan sees it.
#[derive(Debug, Default)]
struct Plan {
    /// By lower-cased email.
    customers: HashMap<String, Who>,
    /// License id → status and customer after the rows so far.
    licenses: HashMap<String, (LicenseStatus, Option<Who>)>,
}

/// Checks one row with reads only, as [`import_row`] would apply it after the rows before it.
fn plan_row(
    digests: &DigestKey,
    c: &mut DbConn,
    now: OffsetDateTime,
    row: &ImportRow,
    plan: &mut Plan,
) -> StoreResult<RowReport> {
    let mut report = RowReport::of(row, "error");
    let l = match locate(digests, c, row)? {
        Ok(l) => l,
        Err(e) => {
            report.error = Some(e);
            return Ok(report);
        }
    };
    report.license_id = Uuid::parse_str(&l.id).ok();
    report.key_display = Some(l.key_display.clone());
    let (status, current) = match plan.licenses.get(&l.id) {
        Some(known) => known.clone(),
        None => (parse_status(&l)?, l.customer_id.clone().map(Who::Existing)),
    };
    if !status.is_editable() {
        report.error = Some(format!("license is {status} and cannot be assigned"));
        return Ok(report);
    }
    let email = row.customer_email.trim().to_lowercase();
    let who = match plan.customers.get(&email) {
        Some(w) => w.clone(),
        None => {
            let w = match find_customer(c, &row.customer_email)? {
                Some(cu) => Who::Existing(cu.id),
                None => {
                    let Some(name) = row.customer_name.clone().filter(|n| !n.trim().is_empty())
                    else {
                        report.error =
                            Some("customer_name: required to create a new customer".into());
                        return Ok(report);
                    };
                    let new = NewCustomer {
                        name,
                        email: row.customer_email.clone(),
                        metadata: None,
                    };
                    if let Err(e) = customer_row(new, now) {
                        report.error = Some(e.to_string());
                        return Ok(report);
                    }
                    report.customer_created = true;
                    Who::New(email.clone())
                }
            };
            plan.customers.insert(email, w.clone());
            w
        }
    };
    if current.as_ref() == Some(&who) {
        report.action = "unchanged";
        return Ok(report);
    }
    let (action, after) = if status == LicenseStatus::Available {
        ("assign", LicenseStatus::Assigned)
    } else {
        ("reassign", status)
    };
    plan.licenses.insert(l.id.clone(), (after, Some(who)));
    report.action = action;
    Ok(report)
}

fn report(
    dry_run: bool,
    applied: bool,
    rows_applied: usize,
    results: Vec<RowReport>,
) -> ImportReport {
    let count = |a: &str| results.iter().filter(|r| r.action == a).count();
    ImportReport {
        dry_run,
        applied,
        rows_applied,
        rows: results.len(),
        errors: count("error"),
        assigned: count("assign"),
        reassigned: count("reassign"),
        unchanged: count("unchanged"),
        customers_created: results.iter().filter(|r| r.customer_created).count(),
        results,
    }
}

impl Store {
    /// Imports assignments, all or nothing: every row is checked first with reads only; only a
    /// file without errors, and not a dry run, is then written, in batches of [`MAX_BATCH`] rows
    /// (one short write transaction each). See the module documentation for a license that
    /// changes between the check and the write.
    pub fn import_assignments(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        rows: &[ImportRow],
        dry_run: bool,
    ) -> StoreResult<ImportReport> {
        let mut conn = self.conn()?;
        let planned = conn.read(|c| {
            let mut plan = Plan::default();
            rows.iter()
                .map(|row| plan_row(self.digests(), c, now, row, &mut plan))
                .collect::<StoreResult<Vec<_>>>()
        })?;
        if dry_run || planned.iter().any(|r| r.error.is_some()) {
            return Ok(report(dry_run, false, 0, planned));
        }
        let mut results = Vec::with_capacity(rows.len());
        for batch in rows.chunks(MAX_BATCH) {
            let mut done = Vec::with_capacity(batch.len());
            let outcome = self.write_on(&mut conn, |c| {
                for row in batch {
                    done.push(import_row(self.digests(), c, actor, now, row)?);
                }
                if done.iter().any(|r| r.error.is_some()) {
                    Err(StoreError::RolledBack)
                } else {
                    Ok(())
                }
            });
            match outcome {
                Ok(()) => results.append(&mut done),
                Err(StoreError::RolledBack) => {
                    let applied = results.len();
                    for r in &mut done {
                        if r.error.is_none() {
                            r.action = "not_applied";
                            r.customer_created = false;
                        }
                    }
                    results.append(&mut done);
                    results.extend(rows[results.len()..].iter().map(|row| RowReport {
                        license_id: row.license_id,
                        ..RowReport::of(row, "not_applied")
                    }));
                    return Ok(report(false, false, applied, results));
                }
                Err(e) => return Err(e),
            }
        }
        let applied = results.len();
        Ok(report(false, true, applied, results))
    }
}
