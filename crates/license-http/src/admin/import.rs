//! Bulk assignment from CSV (`POST /licenses/import`): `key` or `license_id`, `customer_email`,
//! `customer_name`; `dry_run=true` only reports; all or nothing, with per-row errors. The file
//! is bounded (rows, columns, line length) and checked before anything is written; the store
//! then writes it in batches (`license_store::import`).

use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use license_store::import::{ImportReport, ImportRow};
use serde::Deserialize;
use uuid::Uuid;

use super::csv::split as split_csv;
use super::query::EnvPath;
use super::run;
use crate::auth::{Caller, Permission as P};
use crate::error::ApiError;
use crate::respond::{Denied, Invalid};

/// Largest import body (100,000 rows of a key, an email and a name fit well within it).
pub const MAX_IMPORT_BYTES: usize = 32 * 1024 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ImportQuery {
    dry_run: Option<bool>,
}

/// Most columns a line of the import may have.
pub const MAX_IMPORT_COLUMNS: usize = 16;
/// Longest line of the import, in bytes.
pub const MAX_IMPORT_LINE_BYTES: usize = 4096;
/// Most rows (besides the header) one import may have.
pub const MAX_IMPORT_ROWS: usize = 100_000;

/// Splits one line, refusing an over-long line or too many columns (the error names the line).
fn fields(n: usize, line: &str) -> Result<Vec<String>, ApiError> {
    if line.len() > MAX_IMPORT_LINE_BYTES {
        return Err(ApiError::InvalidRequest(format!(
            "line {n}: {} bytes; a line may have at most {MAX_IMPORT_LINE_BYTES}",
            line.len()
        )));
    }
    let f = split_csv(line);
    if f.len() > MAX_IMPORT_COLUMNS {
        return Err(ApiError::InvalidRequest(format!(
            "line {n}: {} columns; a line may have at most {MAX_IMPORT_COLUMNS}",
            f.len()
        )));
    }
    Ok(f)
}

/// Parses the import CSV: a header naming `key` or `license_id`, `customer_email`, and
/// optionally `customer_name`; fields may be quoted. At most [`MAX_IMPORT_ROWS`] rows of at most
/// [`MAX_IMPORT_COLUMNS`] columns and [`MAX_IMPORT_LINE_BYTES`] bytes; a 400 names the line.
pub fn parse_import(text: &str) -> Result<Vec<ImportRow>, ApiError> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (h, header) = lines
        .next()
        .ok_or_else(|| ApiError::InvalidRequest("body: the CSV is empty".into()))?;
    let cols: Vec<String> = fields(h + 1, header)?
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
        if rows.len() == MAX_IMPORT_ROWS {
            return Err(ApiError::InvalidRequest(format!(
                "line {}: more than {MAX_IMPORT_ROWS} rows; split the file",
                i + 1
            )));
        }
        let f = fields(i + 1, line)?;
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
    }
    Ok(rows)
}

#[utoipa::path(
    post,
    path = "/v1/{env}/licenses/import",
    summary = "Bulk assignment from CSV (key or license_id, customer_email, customer_name; at most 100000 rows, 16 columns, 4096 bytes a line); dry_run=true reports only; all or nothing: every row checked before any is written, then written in batches of 500",
    tag = "admin",
    params(EnvPath),
    request_body(content = String, content_type = "text/csv", description = "A header naming `key` or `license_id`, `customer_email` and optionally `customer_name`, then one row per license"),
    responses((status = 200, description = "OK", body = ImportReport), (status = 415, description = "UNSUPPORTED_MEDIA_TYPE"), Invalid, Denied),
    security(("bearer" = []), ("session" = []))
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
    let report = run(&caller, move |s, a, now| {
        s.import_assignments(a, now, &rows, dry_run)
    })
    .await?;
    let status = if report.errors > 0 {
        actix_web::http::StatusCode::UNPROCESSABLE_ENTITY
    } else {
        actix_web::http::StatusCode::OK
    };
    Ok(HttpResponse::build(status).json(report))
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/licenses/import")
            .app_data(web::PayloadConfig::new(MAX_IMPORT_BYTES))
            .route(web::post().to(import))
            // Other methods: 405 with `Allow` in the API's error shape, like every route.
            .default_service(web::to(crate::ops::not_found)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn refusal(text: &str) -> String {
        match parse_import(text) {
            Err(ApiError::InvalidRequest(m)) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn import_csv_is_bounded_in_columns_line_length_and_rows() {
        let wide = format!("key,customer_email{}\n", ",x".repeat(15));
        assert!(
            refusal(&wide).starts_with("line 1: 17 columns"),
            "{}",
            refusal(&wide)
        );
        let long = format!(
            "key,customer_email\nK,a@example.com\nK,{}@example.com\n",
            "a".repeat(4100)
        );
        assert!(
            refusal(&long).starts_with("line 3: 4"),
            "{}",
            refusal(&long)
        );
        let mut many = String::from("key,customer_email\n");
        for i in 0..=MAX_IMPORT_ROWS {
            many.push_str(&format!("K{i},a@example.com\n"));
        }
        assert_eq!(
            refusal(&many),
            format!(
                "line {}: more than 100000 rows; split the file",
                MAX_IMPORT_ROWS + 2
            )
        );
        many.truncate(many.trim_end().rfind('\n').unwrap() + 1);
        assert_eq!(parse_import(&many).unwrap().len(), MAX_IMPORT_ROWS);
    }
}
