//! Streamed exports of the license list (`/licenses/export.csv`, `/licenses/export.json`) with
//! the list's filters: read in keyset pages, so memory stays flat whatever the number of rows.
//! Keys are masked.

use actix_web::HttpResponse;
use actix_web::web::{self, Bytes};
use futures_util::stream;
use license_store::model::LicenseView;
use time::OffsetDateTime;
use uuid::Uuid;

use super::csv::{field as csv_field, text as csv_text};
use super::licenses::guard_key_search;
use super::query::EnvPath;
use super::query::LicenseQuery;
use crate::AppState;
use crate::auth::{Caller, Permission as P};
use crate::error::ApiError;
use crate::respond::{BadRequest, Denied};

/// Licenses read per page while exporting: memory stays flat whatever the number of rows.
pub const EXPORT_PAGE: i64 = 500;

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
        csv_field(&l.id.to_string()),
        csv_field(&l.key_display),
        csv_field(l.status.as_str()),
        csv_field(&v.product.code),
        csv_text(&v.product.name),
        csv_text(&cname),
        csv_text(&cemail),
        csv_field(&l.activation_limit.to_string()),
        csv_field(&l.activations_active.to_string()),
        csv_field(&rfc3339(l.expires_at)),
        csv_field(&rfc3339(Some(l.created_at))),
    ]
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
    params(EnvPath),
    responses((status = 200, description = "id, key_display, status, product_code, product_name, customer_name, customer_email, activation_limit, activations_active, expires_at, created_at", content_type = "text/csv", body = String), BadRequest, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn export_csv(
    caller: Caller,
    state: web::Data<AppState>,
    q: web::Query<LicenseQuery>,
) -> Result<HttpResponse, ApiError> {
    guard_key_search(&caller, &state, q.q()).await?;
    export(&caller, &q, Format::Csv)
}

#[utoipa::path(
    get,
    path = "/v1/{env}/licenses/export.json",
    summary = "Every license matching the list filters, as a JSON array (masked keys), streamed",
    tag = "admin",
    params(EnvPath),
    responses((status = 200, description = "A JSON array of licenses", body = Vec<LicenseView>), BadRequest, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn export_json(
    caller: Caller,
    state: web::Data<AppState>,
    q: web::Query<LicenseQuery>,
) -> Result<HttpResponse, ApiError> {
    guard_key_search(&caller, &state, q.q()).await?;
    export(&caller, &q, Format::Json)
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/licenses/export.csv", web::get().to(export_csv))
        .route("/licenses/export.json", web::get().to(export_json));
}
