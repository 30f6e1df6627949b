//! Background jobs (`/jobs`): bulk minting from a generator as a job (202, progress in the job),
//! its keys downloaded once as CSV (then 410), and the job list.

use actix_web::HttpResponse;
use actix_web::web::{self, Json};
use license_store::mint::{Job, MintParams};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::csv::field as csv_field;
use super::query::PageQuery;
use super::query::{EnvPath, IdPath};
use super::run;
use crate::auth::{Caller, Permission as P};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::respond::{Accepted, Denied, Invalid, List, NotFound};

#[utoipa::path(
    get,
    path = "/v1/{env}/jobs",
    summary = "Background jobs, newest first",
    tag = "admin",
    params(EnvPath),
    responses((status = 200, description = "OK", body = List<Job>), Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn jobs(caller: Caller, q: web::Query<PageQuery>) -> Result<List<Job>, ApiError> {
    caller.require(P::Read)?;
    let page = q.page()?;
    Ok(List::new(run(&caller, move |s, _, _| s.jobs(page)).await?))
}

#[utoipa::path(
    get,
    path = "/v1/{env}/jobs/{id}",
    summary = "A job and its progress",
    tag = "admin",
    params(IdPath),
    responses((status = 200, description = "OK", body = Job), NotFound, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn job(caller: Caller, path: web::Path<IdPath>) -> Result<Json<Job>, ApiError> {
    caller.require(P::Read)?;
    let id = path.id;
    Ok(Json(run(&caller, move |s, _, _| s.job(id)).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GenerateBody {
    #[schema(minimum = 1, maximum = 100000)]
    count: i64,
    customer_id: Option<Uuid>,
}

/// 202 to `generate`: the queued job; poll `GET /jobs/{id}` for progress.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobAccepted {
    job: Job,
}

#[utoipa::path(
    post,
    path = "/v1/{env}/generators/{id}/generate",
    summary = "Mint count (≤ 100000) licenses as a background job",
    tag = "admin",
    params(IdPath),
    request_body = GenerateBody,
    responses((status = 202, description = "Accepted: the job", body = JobAccepted), NotFound, Invalid, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn generate(
    caller: Caller,
    path: web::Path<IdPath>,
    body: ApiJson<GenerateBody>,
) -> Result<Accepted<JobAccepted>, ApiError> {
    caller.require(P::ManageLicenses)?;
    let params = MintParams {
        generator_id: path.id,
        customer_id: body.0.customer_id,
        count: body.0.count,
    };
    let job = run(&caller, move |s, a, now| s.create_mint_job(a, now, params)).await?;
    Ok(Accepted(JobAccepted { job }))
}

#[utoipa::path(
    get,
    path = "/v1/{env}/jobs/{id}/keys.csv",
    summary = "The keys a completed mint job minted, as CSV, once",
    tag = "admin",
    params(IdPath),
    responses((status = 200, description = "seq, license_id, key (full keys, handed out once; no-store)", content_type = "text/csv", body = String), (status = 410, description = "GONE: keys already downloaded"), Invalid, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn job_keys(
    caller: Caller,
    path: web::Path<IdPath>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::ManageLicenses)?;
    let id = path.id;
    let keys = run(&caller, move |s, a, now| {
        // Open every key before marking them handed out, so a failure loses nothing.
        let keys = s.job_keys(id)?;
        Ok(s.take_job_keys(a, now, id)?.then_some(keys))
    })
    .await?
    .ok_or_else(|| {
        ApiError::Gone("this job's keys were downloaded already; they are handed out once".into())
    })?;
    let mut out = String::with_capacity(keys.len() * 64 + 32);
    out.push_str("seq,license_id,key\n");
    for (seq, lid, key) in keys {
        out.push_str(&format!("{seq},{lid},{}\n", csv_field(key.expose())));
    }
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"job-{id}-keys.csv\""),
        ))
        .insert_header(("Cache-Control", "no-store"))
        .body(out))
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/generators/{id}/generate", web::post().to(generate))
        .route("/jobs", web::get().to(jobs))
        .route("/jobs/{id}", web::get().to(job))
        .route("/jobs/{id}/keys.csv", web::get().to(job_keys));
}
