//! Bulk admin routes: minting jobs (`POST /generators/{id}/generate`, the keys downloaded once
//! as CSV), streamed exports (`export.csv`, `export.json`) and the CSV import of assignments.
//! Also the in-process job worker that runs and resumes mint jobs.

use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::stream;
use license_store::Actor;
use license_store::import::ImportRow;
use license_store::mint::MintParams;
use license_store::model::LicenseView;
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::admin::LicenseQuery;
use crate::auth::{Caller, Permission as P};
use crate::env::Environments;
use crate::error::ApiError;
use crate::extract::ApiJson;

/// Largest import body (100,000 rows of a key, an email and a name fit well within it).
pub const MAX_IMPORT_BYTES: usize = 32 * 1024 * 1024;

/// Licenses read per page while exporting: memory stays flat whatever the number of rows.
pub const EXPORT_PAGE: i64 = 500;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GenerateBody {
    count: i64,
    customer_id: Option<Uuid>,
}

#[utoipa::path(
    post,
    path = "/v1/{env}/generators/{id}/generate",
    summary = "Mint count (≤ 100000) licenses as a background job",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name"), ("id" = Uuid, Path, description = "Id")),
    request_body = GenerateBody,
    responses((status = 202, description = "Accepted: the job"), (status = 404, description = "NOT_FOUND"), (status = 422, description = "INVALID_FIELD, IMMUTABLE_FIELD or WEAK_KEY_FORMAT (the error names the field)"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn generate(
    caller: Caller,
    path: web::Path<(String, Uuid)>,
    body: ApiJson<GenerateBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::ManageLicenses)?;
    let params = MintParams {
        generator_id: path.1,
        customer_id: body.0.customer_id,
        count: body.0.count,
    };
    let (env, actor) = (caller.env.clone(), caller.actor.clone());
    let job = web::block(move || {
        env.store()
            .create_mint_job(&actor, OffsetDateTime::now_utc(), params)
    })
    .await??;
    Ok(HttpResponse::Accepted().json(json!({ "job": job })))
}

/// One CSV field, quoted when it holds a comma, quote or line break.
pub fn csv_field(v: &str) -> String {
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_owned()
    }
}

#[utoipa::path(
    get,
    path = "/v1/{env}/jobs/{id}/keys.csv",
    summary = "The keys a completed mint job minted, as CSV, once",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name"), ("id" = Uuid, Path, description = "Id")),
    responses((status = 200, description = "OK"), (status = 410, description = "GONE: keys already downloaded"), (status = 422, description = "INVALID_FIELD, IMMUTABLE_FIELD or WEAK_KEY_FORMAT (the error names the field)"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn job_keys(
    caller: Caller,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::ManageLicenses)?;
    let (env, actor, id) = (caller.env.clone(), caller.actor.clone(), path.1);
    let keys = web::block(move || {
        // Open every key before marking them handed out, so a failure loses nothing.
        let keys = env.store().job_keys(id)?;
        let first = env
            .store()
            .take_job_keys(&actor, OffsetDateTime::now_utc(), id)?;
        Ok::<_, license_store::StoreError>(first.then_some(keys))
    })
    .await??
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
            format!("attachment; filename=\"job-{id}-keys.csv\"", id = path.1),
        ))
        .insert_header(("Cache-Control", "no-store"))
        .body(out))
}

const CSV_HEADER: &str = "id,key_display,status,product_code,product_name,customer_name,customer_email,activation_limit,activations_active,expires_at,created_at\n";

fn rfc3339(t: Option<OffsetDateTime>) -> String {
    t.and_then(|t| {
        t.format(&time::format_description::well_known::Rfc3339)
            .ok()
    })
    .unwrap_or_default()
}

fn csv_row(v: &LicenseView) -> String {
    let l = &v.license;
    let (cname, cemail) = v
        .customer
        .as_ref()
        .map_or((String::new(), String::new()), |c| {
            (c.name.clone(), c.email.clone())
        });
    [
        l.id.to_string(),
        l.key_display.clone(),
        l.status.as_str().to_owned(),
        v.product.code.clone(),
        v.product.name.clone(),
        cname,
        cemail,
        l.activation_limit.to_string(),
        l.activations_active.to_string(),
        rfc3339(l.expires_at),
        rfc3339(Some(l.created_at)),
    ]
    .iter()
    .map(|f| csv_field(f))
    .collect::<Vec<_>>()
    .join(",")
        + "\n"
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Json,
}

/// Streams every license matching the list filters, page by page (keyset paging by id), with
/// masked keys only.
fn export(caller: &Caller, q: &LicenseQuery, format: Format) -> Result<HttpResponse, ApiError> {
    caller.require(P::ExportImport)?;
    let (filter, _) = q.filter()?;
    let env = caller.env.clone();
    struct State {
        after: Option<Uuid>,
        first: bool,
        done: bool,
    }
    let start = State {
        after: None,
        first: true,
        done: false,
    };
    let body = stream::unfold(start, move |mut st| {
        let (env, filter) = (env.clone(), filter.clone());
        async move {
            if st.done {
                return None;
            }
            let after = st.after;
            let page =
                web::block(move || env.store().licenses_after(&filter, after, EXPORT_PAGE)).await;
            let page = match page {
                Ok(Ok(p)) => p,
                Ok(Err(e)) => return Some((Err(ApiError::from(e)), State { done: true, ..st })),
                Err(e) => return Some((Err(ApiError::from(e)), State { done: true, ..st })),
            };
            let mut chunk = String::new();
            if st.first {
                chunk.push_str(match format {
                    Format::Csv => CSV_HEADER,
                    Format::Json => "[",
                });
            }
            for (i, v) in page.iter().enumerate() {
                match format {
                    Format::Csv => chunk.push_str(&csv_row(v)),
                    Format::Json => {
                        if !(st.first && i == 0) {
                            chunk.push(',');
                        }
                        chunk.push_str(&serde_json::to_string(v).unwrap_or_default());
                    }
                }
            }
            st.done = (page.len() as i64) < EXPORT_PAGE;
            if st.done && format == Format::Json {
                chunk.push_str("]\n");
            }
            st.first = st.first && page.is_empty();
            st.after = page.last().map(|v| v.license.id).or(st.after);
            Some((Ok::<_, ApiError>(Bytes::from(chunk)), st))
        }
    });
    let (content_type, name) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "licenses.csv"),
        Format::Json => ("application/json", "licenses.json"),
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{name}\""),
        ))
        .streaming(body))
}

#[utoipa::path(
    get,
    path = "/v1/{env}/licenses/export.csv",
    summary = "Every license matching the list filters, as CSV (masked keys), streamed",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name")),
    responses((status = 200, description = "OK"), (status = 400, description = "INVALID_REQUEST"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn export_csv(
    caller: Caller,
    q: web::Query<LicenseQuery>,
) -> Result<HttpResponse, ApiError> {
    export(&caller, &q, Format::Csv)
}

#[utoipa::path(
    get,
    path = "/v1/{env}/licenses/export.json",
    summary = "Every license matching the list filters, as a JSON array (masked keys), streamed",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name")),
    responses((status = 200, description = "OK"), (status = 400, description = "INVALID_REQUEST"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn export_json(
    caller: Caller,
    q: web::Query<LicenseQuery>,
) -> Result<HttpResponse, ApiError> {
    export(&caller, &q, Format::Json)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ImportQuery {
    dry_run: Option<bool>,
}

/// Parses the import CSV: a header naming `key` or `license_id`, `customer_email`, and
/// optionally `customer_name`; fields may be quoted.
pub fn parse_import(text: &str) -> Result<Vec<ImportRow>, ApiError> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines
        .next()
        .ok_or_else(|| ApiError::InvalidRequest("body: the CSV is empty".into()))?;
    let cols: Vec<String> = split_csv(header)
        .iter()
        .map(|c| c.trim().to_lowercase())
        .collect();
    let find = |name: &str| cols.iter().position(|c| c == name);
    let (key, lid, email, name) = (
        find("key"),
        find("license_id"),
        find("customer_email"),
        find("customer_name"),
    );
    if key.is_none() && lid.is_none() {
        return Err(ApiError::InvalidRequest(
            "header: needs a key or license_id column".into(),
        ));
    }
    let email = email
        .ok_or_else(|| ApiError::InvalidRequest("header: needs a customer_email column".into()))?;
    let mut rows = Vec::new();
    for (i, line) in lines {
        let f = split_csv(line);
        let get = |c: Option<usize>| {
            c.and_then(|c| f.get(c))
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let license_id = match get(lid) {
            Some(v) => Some(Uuid::parse_str(&v).map_err(|_| {
                ApiError::InvalidRequest(format!("line {}: license_id is not a UUID", i + 1))
            })?),
            None => None,
        };
        rows.push(ImportRow {
            line: i + 1,
            key: get(key),
            license_id,
            customer_email: get(Some(email)).unwrap_or_default(),
            customer_name: get(name),
        });
        if rows.len() > 100_000 {
            return Err(ApiError::InvalidRequest(
                "body: at most 100000 rows per import".into(),
            ));
        }
    }
    Ok(rows)
}

/// Splits one CSV line (RFC 4180 quoting, no line breaks inside fields).
fn split_csv(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    out.push(cur);
    out
}

#[utoipa::path(
    post,
    path = "/v1/{env}/licenses/import",
    summary = "Bulk assignment from CSV (key or license_id, customer_email, customer_name); dry_run=true reports only; all or nothing",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name")),
    responses((status = 200, description = "OK"), (status = 415, description = "UNSUPPORTED_MEDIA_TYPE"), (status = 422, description = "INVALID_FIELD, IMMUTABLE_FIELD or WEAK_KEY_FORMAT (the error names the field)"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn import(
    caller: Caller,
    q: web::Query<ImportQuery>,
    body: Bytes,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    caller.require(P::ExportImport)?;
    let ct = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !ct.starts_with("text/csv") {
        return Err(ApiError::UnsupportedMediaType);
    }
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::InvalidRequest("body: not UTF-8".into()))?;
    let rows = parse_import(text)?;
    let dry_run = q.dry_run.unwrap_or(false);
    let (env, actor) = (caller.env.clone(), caller.actor.clone());
    let report = web::block(move || {
        env.store()
            .import_assignments(&actor, OffsetDateTime::now_utc(), &rows, dry_run)
    })
    .await??;
    let status = if report.errors > 0 {
        actix_web::http::StatusCode::UNPROCESSABLE_ENTITY
    } else {
        actix_web::http::StatusCode::OK
    };
    Ok(HttpResponse::build(status).json(report))
}

/// Bulk routes under `/v1/{env}` (registered before `/licenses/{id}` so the literal paths win).
pub fn routes(scope: actix_web::Scope) -> actix_web::Scope {
    scope
        .route("/generators/{id}/generate", web::post().to(generate))
        .route("/jobs/{id}/keys.csv", web::get().to(job_keys))
        .route("/licenses/export.csv", web::get().to(export_csv))
        .route("/licenses/export.json", web::get().to(export_json))
        .service(
            web::resource("/licenses/import")
                .app_data(web::PayloadConfig::new(MAX_IMPORT_BYTES))
                .route(web::post().to(import)),
        )
}

/// Runs queued mint jobs of every environment, and resumes the ones a stopped process left
/// running once their claim lapses. Jobs are claimed one at a time, so several instances share
/// the queue; each job runs batch by batch (see `Store::run_mint_job`).
pub fn spawn_job_worker(envs: Environments) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let actor = Actor::named("worker", "jobs");
        loop {
            let mut worked = false;
            for env in envs.iter() {
                match env.store().claim_next_job(OffsetDateTime::now_utc()) {
                    Ok(Some(job)) => {
                        worked = true;
                        match env
                            .store()
                            .run_mint_job(&actor, job.id, OffsetDateTime::now_utc)
                        {
                            Ok(j) => {
                                tracing::info!(environment = env.name(), job = %j.id, minted = j.done, "mint job completed")
                            }
                            Err(e) => {
                                tracing::error!(environment = env.name(), job = %job.id, error = %e, "mint job failed")
                            }
                        }
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(environment = env.name(), error = %e, "cannot claim a job")
                    }
                }
            }
            if !worked {
                std::thread::sleep(Duration::from_millis(300));
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(
            split_csv("a,\"b,c\",\"d \"\"e\"\"\""),
            ["a", "b,c", "d \"e\""]
        );
    }

    #[test]
    fn import_csv_needs_the_columns_it_uses() {
        let rows = parse_import(
            "key,customer_email,customer_name\nACME-1,ada@example.com,Ada\n\n,x@example.com,\n",
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (
                rows[0].line,
                rows[0].key.as_deref(),
                rows[0].customer_name.as_deref()
            ),
            (2, Some("ACME-1"), Some("Ada"))
        );
        assert_eq!(rows[1].key, None);
        assert!(parse_import("customer_email\nx@example.com").is_err());
        assert!(parse_import("key\nK").is_err());
        assert!(parse_import("license_id,customer_email\nnot-a-uuid,x@example.com").is_err());
    }
}
