//! Bulk minting: batches of at most 500 licenses per transaction, and mint jobs that resume after
//! a crash without duplicates or gaps (each license carries its job's sequence number, unique per
//! job, and the job's progress is committed with the batch).

use diesel::prelude::*;
use license_core::LicenseKey;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::{self, Actor, Target, details};
use crate::customers::load_customer;
use crate::db::DbConn;
use crate::error::{StoreError, StoreResult, unique};
use crate::generators::{load_generator, parse_format, starts_at, validity_from};
use crate::license_rows::{MintPlan, fill_sort_names, mint_row};
use crate::limits::{MAX_BATCH, MAX_JOB};
use crate::model::*;
use crate::products::load_product;
use crate::rows::{EventRow, GeneratorRow, JobRow, LicenseRow, ProductRow};
use crate::schema::{events, jobs, licenses};
use crate::{Page, Store};

/// How long a worker's claim on a job lasts without progress; every batch renews it. A job whose
/// worker died is picked up by another (or the restarted) worker once its claim lapses.
pub const JOB_LEASE: time::Duration = time::Duration::seconds(10);

/// What a mint job was asked to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MintParams {
    pub generator_id: Uuid,
    pub customer_id: Option<Uuid>,
    pub count: i64,
}

/// A background job (`GET /jobs/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Job {
    pub id: Uuid,
    pub kind: String,
    pub status: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub params: serde_json::Value,
    pub total: i64,
    pub done: i64,
    pub error: Option<String>,
    pub keys_downloaded: bool,
    pub created_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl TryFrom<JobRow> for Job {
    type Error = StoreError;
    fn try_from(r: JobRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: parse_id(&r.id)?,
            params: serde_json::from_str(&r.params).map_err(StoreError::corrupt)?,
            kind: r.kind,
            status: r.status,
            total: r.total,
            done: r.done,
            error: r.error,
            keys_downloaded: r.keys_downloaded,
            created_by: r.created_by,
            created_at: from_db(r.created_at),
            updated_at: from_db(r.updated_at),
        })
    }
}

/// One batch to mint.
#[derive(Debug, Clone)]
pub struct Batch {
    pub generator_id: Uuid,
    pub customer_id: Option<Uuid>,
    /// The job the batch belongs to, and the sequence number of its first license.
    pub job: Option<(Uuid, i64)>,
    /// 1..=500.
    pub count: usize,
}

fn load_job(c: &mut DbConn, id: &str) -> StoreResult<JobRow> {
    jobs::table
        .find(id)
        .select(JobRow::as_select())
        .first(c)
        .optional()?
        .ok_or(StoreError::NotFound { entity: "job" })
}

impl Store {
    /// Mints one batch in one transaction: every license, one `license.created` event each, one
    /// audit entry for the batch, and (for a job) the job's progress. All or nothing.
    pub fn mint_batch(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        batch: &Batch,
    ) -> StoreResult<Vec<(Uuid, LicenseKey)>> {
        if !(1..=MAX_BATCH).contains(&batch.count) {
            return Err(StoreError::invalid(
                "count",
                format!("a batch mints 1..=500 licenses, got {}", batch.count),
            ));
        }
        self.write(|c| mint_in_tx(self, c, actor, now, batch))
    }

    /// Queues a mint job of `params.count` (1..=100000) licenses.
    pub fn create_mint_job(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        params: MintParams,
    ) -> StoreResult<Job> {
        if !(1..=MAX_JOB).contains(&params.count) {
            return Err(StoreError::invalid(
                "count",
                format!("must be 1..=100000, got {}", params.count),
            ));
        }
        let row = JobRow {
            id: new_id(),
            kind: "mint".into(),
            status: "queued".into(),
            params: serde_json::to_string(&params).map_err(StoreError::corrupt)?,
            total: params.count,
            done: 0,
            error: None,
            keys_downloaded: false,
            created_by: actor.name.clone(),
            created_at: to_db(now),
            updated_at: to_db(now),
            claimed_until: None,
        };
        self.write(|c| {
            mint_source(c, params.generator_id, params.customer_id)?;
            diesel::insert_into(jobs::table).values(&row).execute(c)?;
            let target = Target {
                kind: "job",
                id: &row.id,
                key_hint: None,
            };
            audit::record(
                c,
                now,
                actor,
                "job.created",
                target,
                details(json!({"params": params})),
            )?;
            Job::try_from(row.clone())
        })
    }

    /// One job.
    pub fn job(&self, id: Uuid) -> StoreResult<Job> {
        Job::try_from(load_job(&mut *self.conn()?, &id.to_string())?)
    }

    /// Jobs, newest first.
    pub fn jobs(&self, page: Page) -> StoreResult<(Vec<Job>, i64)> {
        self.conn()?.read(|c| {
            let total = jobs::table.count().get_result(c)?;
            let rows: Vec<JobRow> = jobs::table
                .select(JobRow::as_select())
                .order(jobs::id.desc())
                .limit(page.limit)
                .offset(page.offset)
                .load(c)?;
            let items = rows
                .into_iter()
                .map(Job::try_from)
                .collect::<StoreResult<_>>()?;
            Ok((items, total))
        })
    }

    /// Runs a mint job to completion from wherever it stands (its committed `done`), batch by
    /// batch. Safe to call again after a crash: a batch is committed with the job's progress, so
    /// nothing is minted twice and nothing is skipped.
    pub fn run_mint_job(
        &self,
        actor: &Actor,
        id: Uuid,
        clock: impl Fn() -> OffsetDateTime,
    ) -> StoreResult<Job> {
        let id_s = id.to_string();
        loop {
            let job = load_job(&mut *self.conn()?, &id_s)?;
            if job.status == "completed" || job.done >= job.total {
                return self.finish_job(&id_s, clock());
            }
            let params: MintParams =
                serde_json::from_str(&job.params).map_err(StoreError::corrupt)?;
            let count =
                usize::try_from((job.total - job.done).min(MAX_BATCH as i64)).unwrap_or(MAX_BATCH);
            let batch = Batch {
                generator_id: params.generator_id,
                customer_id: params.customer_id,
                job: Some((id, job.done)),
                count,
            };
            let now = clock();
            let result = self.write(|c| {
                // Re-read under the lock: another worker may have minted this batch.
                c.lock_job(&id_s)?;
                let current = load_job(c, &id_s)?;
                if current.done != job.done {
                    return Ok(());
                }
                mint_in_tx(self, c, actor, now, &batch).map(|_| ())
            });
            if let Err(e) = result {
                // A request-level problem (the generator or customer is gone, the product was
                // archived) will not heal: the job fails. Anything else (database busy or
                // unreachable) leaves it running; its claim lapses and a worker tries again.
                if matches!(e, StoreError::Invalid { .. } | StoreError::NotFound { .. }) {
                    self.fail_job(&id_s, clock(), &e.to_string())?;
                }
                return Err(e);
            }
        }
    }

    fn finish_job(&self, id: &str, now: OffsetDateTime) -> StoreResult<Job> {
        self.write(|c| {
            diesel::update(jobs::table.find(id).filter(jobs::status.ne("completed")))
                .set((
                    jobs::status.eq("completed"),
                    jobs::updated_at.eq(to_db(now)),
                ))
                .execute(c)?;
            Job::try_from(load_job(c, id)?)
        })
    }

    fn fail_job(&self, id: &str, now: OffsetDateTime, error: &str) -> StoreResult<()> {
        self.write(|c| {
            diesel::update(jobs::table.find(id))
                .set((
                    jobs::status.eq("failed"),
                    jobs::error.eq(Some(error)),
                    jobs::updated_at.eq(to_db(now)),
                ))
                .execute(c)?;
            Ok(())
        })
    }

    /// Claims the oldest unfinished job nobody holds (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so
    /// several instances share the queue) for [`JOB_LEASE`]. `None` when there is nothing to do.
    pub fn claim_next_job(&self, now: OffsetDateTime) -> StoreResult<Option<Job>> {
        self.write(|c| {
            let Some(id) = c.claim_job(to_db(now))? else {
                return Ok(None);
            };
            diesel::update(jobs::table.find(&id))
                .set(jobs::claimed_until.eq(Some(to_db(now + JOB_LEASE))))
                .execute(c)?;
            Job::try_from(load_job(c, &id)?).map(Some)
        })
    }

    /// Marks a completed job's keys as downloaded; `Ok(false)` if they were already (the keys are
    /// handed out once).
    pub fn take_job_keys(&self, actor: &Actor, now: OffsetDateTime, id: Uuid) -> StoreResult<bool> {
        let id_s = id.to_string();
        self.write(|c| {
            let job = load_job(c, &id_s)?;
            if job.status != "completed" {
                return Err(StoreError::invalid(
                    "job",
                    format!(
                        "job is {}; keys are available once it is completed",
                        job.status
                    ),
                ));
            }
            let n = diesel::update(
                jobs::table
                    .find(&id_s)
                    .filter(jobs::keys_downloaded.eq(false)),
            )
            .set((
                jobs::keys_downloaded.eq(true),
                jobs::updated_at.eq(to_db(now)),
            ))
            .execute(c)?;
            if n == 1 {
                let target = Target {
                    kind: "job",
                    id: &id_s,
                    key_hint: None,
                };
                audit::record(
                    c,
                    now,
                    actor,
                    "job.keys_downloaded",
                    target,
                    details(json!({"count": job.done})),
                )?;
            }
            Ok(n == 1)
        })
    }

    /// The licenses a job minted, in sequence order, with their keys opened from the ciphertext.
    pub fn job_keys(&self, id: Uuid) -> StoreResult<Vec<(i64, Uuid, LicenseKey)>> {
        let rows: Vec<(String, Option<i64>, Vec<u8>)> = licenses::table
            .filter(licenses::job_id.eq(id.to_string()))
            .select((licenses::id, licenses::job_seq, licenses::key_ciphertext))
            .order(licenses::job_seq.asc())
            .load(&mut *self.conn()?)?;
        rows.into_iter()
            .map(|(lid, seq, ct)| {
                let lid = parse_id(&lid)?;
                let key = license_core::reveal_key(self.sealer(), lid, &ct)
                    .map_err(|_| StoreError::corrupt("key ciphertext does not open"))?;
                Ok((seq.unwrap_or_default(), lid, key))
            })
            .collect()
    }
}

/// The generator a mint draws on and its product, checked: the generator exists, its product is
/// active, and the customer to assign to (if any) exists.
fn mint_source(
    c: &mut DbConn,
    generator_id: Uuid,
    customer_id: Option<Uuid>,
) -> StoreResult<(GeneratorRow, ProductRow)> {
    // The generator is the resource minted from (`/generators/{id}/generate`): missing is 404.
    let generator = load_generator(c, &generator_id.to_string())?;
    let product = load_product(c, &generator.product_id)?;
    if product.status != ProductStatus::Active.as_str() {
        return Err(StoreError::invalid(
            "generator_id",
            "the generator's product is archived",
        ));
    }
    if let Some(cid) = customer_id {
        load_customer(c, &cid.to_string())
            .map_err(|_| StoreError::invalid("customer_id", format!("no customer {cid}")))?;
    }
    Ok((generator, product))
}

fn mint_in_tx(
    store: &Store,
    c: &mut DbConn,
    actor: &Actor,
    now: OffsetDateTime,
    batch: &Batch,
) -> StoreResult<Vec<(Uuid, LicenseKey)>> {
    let (generator, product) = mint_source(c, batch.generator_id, batch.customer_id)?;
    let format = parse_format(&generator)?;
    let clock_starts = starts_at(&generator, ExpiryBasis::Creation)
        || (batch.customer_id.is_some() && starts_at(&generator, ExpiryBasis::Assignment));
    let plan = MintPlan {
        product: &product,
        generator: &generator,
        format: &format,
        customer_id: batch.customer_id.map(|u| u.to_string()),
        activation_limit: generator.default_activation_limit,
        expires_at: clock_starts
            .then(|| validity_from(&generator, now))
            .flatten(),
        feature_flags: generator.default_feature_flags.clone(),
        metadata: "{}".into(),
    };
    let mut rng = rand::rng();
    let mut rows: Vec<LicenseRow> = Vec::with_capacity(batch.count);
    let mut minted = Vec::with_capacity(batch.count);
    let mut evs: Vec<EventRow> = Vec::with_capacity(batch.count);
    for i in 0..batch.count {
        let (mut row, key) = mint_row(store, &plan, now, &mut rng);
        if let Some((job, first)) = batch.job {
            row.job_id = Some(job.to_string());
            row.job_seq = Some(first + i as i64);
        }
        let data = details(json!({
            "license_id": row.id,
            "product_id": row.product_id,
            "customer_id": row.customer_id,
            "status": row.status,
            "key_display": row.key_display,
        }));
        evs.push(audit::event_row(
            now,
            "license.created",
            Some(&row.id),
            data.clone(),
        ));
        if row.customer_id.is_some() {
            evs.push(audit::event_row(
                now,
                "license.assigned",
                Some(&row.id),
                data,
            ));
        }
        minted.push((parse_id(&row.id)?, key));
        rows.push(row);
    }
    crate::db::insert_many!(c, licenses::table, &rows).map_err(unique("key"))?;
    fill_sort_names(c)?;
    crate::db::insert_many!(c, events::table, &evs)?;
    let job_id = batch.job.map(|(j, _)| j.to_string());
    let target_id = job_id.clone().unwrap_or_else(|| generator.id.clone());
    let target = Target {
        kind: if job_id.is_some() { "job" } else { "generator" },
        id: &target_id,
        key_hint: None,
    };
    let d = details(json!({
        "count": batch.count,
        "generator_id": generator.id,
        "first_seq": batch.job.map(|(_, s)| s),
        "first_license_id": rows.first().map(|r| r.id.clone()),
        "last_license_id": rows.last().map(|r| r.id.clone()),
    }));
    audit::record(c, now, actor, "license.bulk_created", target, d)?;
    if let Some((job, first)) = batch.job {
        diesel::update(jobs::table.find(job.to_string()))
            .set((
                jobs::done.eq(first + batch.count as i64),
                jobs::status.eq("running"),
                jobs::updated_at.eq(to_db(now)),
                jobs::claimed_until.eq(Some(to_db(now + JOB_LEASE))),
            ))
            .execute(c)?;
    }
    Ok(minted)
}
