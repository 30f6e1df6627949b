//! Email and the customer portal, the operator's side (SPEC §14): a customer's portal access
//! (seen, taken away, given back), the mails sent to a customer, the built-in templates with
//! their placeholders, and a preview of any email template with sample values before it is
//! saved.

use std::collections::BTreeMap;

use actix_web::web::{self, Json};
use license_store::mail::MailDelivery;
use license_store::mail_templates::{MailKind, MailTemplate, RenderedMail};
use license_store::portal::PortalAccess;
use serde::{Deserialize, Serialize};

use super::query::{EnvPath, IdPath, page};
use super::run;
use crate::auth::{Caller, Permission as P};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::respond::{Denied, Invalid, List, NotFound};

#[utoipa::path(
    get,
    path = "/v1/{env}/customers/{id}/portal",
    summary = "The customer's portal access: allowed or not, open sessions, latest sign-in",
    tag = "admin",
    params(IdPath),
    responses((status = 200, description = "OK", body = PortalAccess), NotFound, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn portal_access(
    caller: Caller,
    path: web::Path<IdPath>,
) -> Result<Json<PortalAccess>, ApiError> {
    caller.require(P::Read)?;
    let id = path.id;
    Ok(Json(
        run(&caller, move |s, _, _| s.portal_access(id)).await?,
    ))
}

/// `PUT /customers/{id}/portal`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PortalAccessBody {
    /// `false` signs the customer out everywhere, voids their unused links and refuses new
    /// ones; `true` lets them sign in again.
    access: bool,
}

#[utoipa::path(
    put,
    path = "/v1/{env}/customers/{id}/portal",
    summary = "Give or take away the customer's portal access (taking it ends their sessions)",
    tag = "admin",
    params(IdPath),
    request_body = PortalAccessBody,
    responses((status = 200, description = "OK", body = PortalAccess), NotFound, Invalid, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn set_portal_access(
    caller: Caller,
    path: web::Path<IdPath>,
    body: ApiJson<PortalAccessBody>,
) -> Result<Json<PortalAccess>, ApiError> {
    caller.require(P::ManageCatalog)?;
    let (id, access) = (path.id, body.0.access);
    Ok(Json(
        run(&caller, move |s, a, now| {
            s.set_portal_access(a, now, id, access)
        })
        .await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct MailQuery {
    /// 1..=500, default 50.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    #[param(minimum = 0)]
    offset: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/v1/{env}/customers/{id}/mail",
    summary = "Emails to the customer, newest first: sent, pending (queued or retrying) or failed",
    tag = "admin",
    params(IdPath, MailQuery),
    responses((status = 200, description = "OK", body = List<MailDelivery>), NotFound, Invalid, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn customer_mail(
    caller: Caller,
    path: web::Path<IdPath>,
    q: web::Query<MailQuery>,
) -> Result<List<MailDelivery>, ApiError> {
    caller.require(P::Read)?;
    let (id, page) = (path.id, page(q.limit, q.offset)?);
    Ok(List::new(
        run(&caller, move |s, _, _| s.customer_mail(id, page)).await?,
    ))
}

/// One kind of email as an editor needs it: what it may say and what it says by default.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct MailKindInfo {
    kind: MailKind,
    /// The placeholders its templates may use, as `{{ name }}`.
    placeholders: Vec<&'static str>,
    /// The built-in template, used while the settings hold no override for this kind.
    default: MailTemplate,
}

#[utoipa::path(
    get,
    path = "/v1/{env}/mail/templates",
    summary = "Every kind of email with its placeholders and its built-in template",
    tag = "admin",
    params(EnvPath),
    responses((status = 200, description = "OK", body = List<MailKindInfo>), Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn mail_templates(caller: Caller) -> Result<List<MailKindInfo>, ApiError> {
    caller.require(P::Read)?;
    Ok(List::all(
        MailKind::ALL
            .into_iter()
            .map(|kind| MailKindInfo {
                kind,
                placeholders: kind.placeholders().to_vec(),
                default: kind.default_template(),
            })
            .collect(),
    ))
}

/// `POST /mail/preview`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PreviewBody {
    kind: MailKind,
    /// The template to try; without it, the one in force (the setting, else the default).
    template: Option<MailTemplate>,
}

/// Sample values for a preview: what a real mail of `kind` would hold, with an obviously fake key.
fn sample(kind: MailKind, portal_url: String) -> BTreeMap<&'static str, String> {
    let values = [
        ("customer_name", "Ada Lovelace".to_owned()),
        ("product_name", "Acme Pro".to_owned()),
        ("key", "ACME-XXXX-XXXX-XXXX-SAMPLE".to_owned()),
        ("key_display", "ACME-····-7B2D".to_owned()),
        ("expires", "2027-01-31".to_owned()),
        ("days", "14".to_owned()),
        ("link", format!("{portal_url}sign-in#sample")),
        ("minutes", "15".to_owned()),
        ("portal_url", portal_url),
    ];
    values
        .into_iter()
        .filter(|(k, _)| kind.placeholders().contains(k))
        .collect()
}

#[utoipa::path(
    post,
    path = "/v1/{env}/mail/preview",
    summary = "Render an email template with sample values (nothing is sent or saved)",
    tag = "admin",
    params(EnvPath),
    request_body = PreviewBody,
    responses((status = 200, description = "OK", body = RenderedMail), Invalid, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn preview(
    caller: Caller,
    body: ApiJson<PreviewBody>,
    state: web::Data<crate::AppState>,
) -> Result<Json<RenderedMail>, ApiError> {
    caller.require(P::Read)?;
    let PreviewBody { kind, template } = body.0;
    let portal =
        crate::workers::mail_delivery::portal_url(&state.public_validation_url, caller.env.name());
    let rendered = run(&caller, move |s, _, _| {
        let template = match template {
            Some(t) => t,
            None => s.settings()?.mail_templates.get(kind),
        };
        template.render(kind, &sample(kind, portal))
    })
    .await?;
    Ok(Json(rendered))
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/customers/{id}/portal", web::get().to(portal_access))
        .route("/customers/{id}/portal", web::put().to(set_portal_access))
        .route("/customers/{id}/mail", web::get().to(customer_mail))
        .route("/mail/templates", web::get().to(mail_templates))
        .service(
            web::resource("/mail/preview")
                .app_data(web::PayloadConfig::new(super::settings::SETTINGS_BODY))
                .route(web::post().to(preview))
                .default_service(web::to(crate::ops::not_found)),
        );
}
