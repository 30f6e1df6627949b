//! Webhook endpoints (`/webhooks`): CRUD (the signing secret is shown once), the event types
//! they may subscribe to, each endpoint's deliveries, a ping, and retrying one delivery. Sending
//! is the delivery worker's job.

use actix_web::web::{self, Json};
use license_store::StoreError;
use license_store::webhooks::{Delivery, EVENT_TYPES, Webhook};
use serde::Deserialize;

use super::query::PageQuery;
use super::query::{EnvPath, IdPath};
use super::run;
use crate::auth::{Caller, Permission as P};
use crate::egress::WebhookPolicy;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::respond::{
    Accepted, CreatedWithSecret, Denied, Invalid, List, NoContent, NotFound, Secret,
};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WebhookBody {
    /// `http://` or `https://`, at most 2048 characters; a private address is refused unless
    /// `KEYSMITH_WEBHOOK_ALLOW_PRIVATE=1`.
    #[schema(
        max_length = 2048,
        pattern = r"^https?://[A-Za-z0-9.-]+(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?(/[!-;=?-_a-~]*)?$"
    )]
    url: String,
    #[schema(schema_with = event_types_schema)]
    events: Vec<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WebhookPatchBody {
    #[schema(
        max_length = 2048,
        pattern = r"^https?://[A-Za-z0-9.-]+(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?(/[!-;=?-_a-~]*)?$"
    )]
    url: Option<String>,
    #[schema(schema_with = optional_event_types_schema)]
    events: Option<Vec<String>>,
    enabled: Option<bool>,
}

/// The events an endpoint may subscribe to: every type the outbox emits, or `*` (all).
fn event_types_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    let names = EVENT_TYPES.iter().copied().chain(["*"]);
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(names)),
        )
        .into()
}

/// [`event_types_schema`], or null (unchanged).
fn optional_event_types_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
    OneOfBuilder::new()
        .item(event_types_schema())
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .into()
}

/// A URL whose host is a literal non-public address or `localhost` is refused when it is
/// stored (422 naming `url`), unless `KEYSMITH_WEBHOOK_ALLOW_PRIVATE=1`; names that resolve
/// somewhere private are refused when a delivery connects (`blocked`).
fn check_url(policy: &WebhookPolicy, url: &str) -> Result<(), ApiError> {
    policy
        .check_url(url)
        .map_err(|m| ApiError::Store(StoreError::invalid("url", m)))
}

#[utoipa::path(
    get,
    path = "/v1/{env}/webhooks",
    summary = "List webhook endpoints",
    tag = "admin",
    params(EnvPath),
    responses((status = 200, description = "OK", body = List<Webhook>), Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn webhooks(
    caller: Caller,
    q: web::Query<PageQuery>,
) -> Result<List<Webhook>, ApiError> {
    caller.require(P::Administer)?;
    let page = q.page()?;
    Ok(List::new(
        run(&caller, move |s, _, _| s.webhooks(page)).await?,
    ))
}

#[utoipa::path(
    get,
    path = "/v1/{env}/webhooks/event-types",
    summary = "The event types an endpoint may subscribe to (`*` subscribes to every type, also future ones)",
    tag = "admin",
    params(EnvPath),
    responses((status = 200, description = "OK", body = List<String>), Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn event_types(caller: Caller) -> Result<List<String>, ApiError> {
    caller.require(P::Administer)?;
    Ok(List::all(
        EVENT_TYPES.iter().map(|t| (*t).to_owned()).collect(),
    ))
}

#[utoipa::path(
    post,
    path = "/v1/{env}/webhooks",
    summary = "Create a webhook endpoint; the response holds its signing secret, shown once",
    tag = "admin",
    params(EnvPath),
    request_body = WebhookBody,
    responses((status = 201, description = "Created: the endpoint plus `secret`, its signing secret, shown this once", body = Webhook), Invalid, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn create_webhook(
    caller: Caller,
    policy: web::Data<WebhookPolicy>,
    body: ApiJson<WebhookBody>,
) -> Result<CreatedWithSecret<Webhook>, ApiError> {
    caller.require(P::Administer)?;
    let b = body.0;
    check_url(&policy, &b.url)?;
    let (hook, secret) = run(&caller, move |s, a, now| {
        s.create_webhook(a, now, &b.url, b.events)
    })
    .await?;
    Ok(CreatedWithSecret {
        item: hook,
        secret: Secret::Signing(secret),
    })
}

#[utoipa::path(
    get,
    path = "/v1/{env}/webhooks/{id}",
    summary = "Get a webhook endpoint",
    tag = "admin",
    params(IdPath),
    responses((status = 200, description = "OK", body = Webhook), NotFound, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn webhook(
    caller: Caller,
    path: web::Path<IdPath>,
) -> Result<Json<Webhook>, ApiError> {
    caller.require(P::Administer)?;
    let id = path.id;
    Ok(Json(run(&caller, move |s, _, _| s.webhook(id)).await?))
}

#[utoipa::path(
    get,
    path = "/v1/{env}/webhooks/{id}/deliveries",
    summary = "An endpoint's deliveries (every attempt of every event), newest first",
    tag = "admin",
    params(IdPath),
    responses((status = 200, description = "OK", body = List<Delivery>), NotFound, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn webhook_deliveries(
    caller: Caller,
    path: web::Path<IdPath>,
    q: web::Query<PageQuery>,
) -> Result<List<Delivery>, ApiError> {
    caller.require(P::Administer)?;
    let (id, page) = (path.id, q.page()?);
    Ok(List::new(
        run(&caller, move |s, _, _| s.webhook_deliveries(id, page)).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/v1/{env}/webhooks/{id}/ping",
    summary = "Queue a webhook.ping event for this endpoint only",
    tag = "admin",
    params(IdPath),
    responses((status = 202, description = "Accepted: the delivery", body = Delivery), NotFound, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn ping_webhook(
    caller: Caller,
    path: web::Path<IdPath>,
) -> Result<Accepted<Delivery>, ApiError> {
    caller.require(P::Administer)?;
    let id = path.id;
    Ok(Accepted(
        run(&caller, move |s, a, now| s.ping_webhook(a, now, id)).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/v1/{env}/deliveries/{id}/retry",
    summary = "Send a delivery again now",
    tag = "admin",
    params(IdPath),
    responses((status = 202, description = "Accepted: the delivery", body = Delivery), NotFound, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn retry_delivery(
    caller: Caller,
    path: web::Path<IdPath>,
) -> Result<Accepted<Delivery>, ApiError> {
    caller.require(P::Administer)?;
    let id = path.id;
    Ok(Accepted(
        run(&caller, move |s, a, now| s.retry_delivery(a, now, id)).await?,
    ))
}

#[utoipa::path(
    patch,
    path = "/v1/{env}/webhooks/{id}",
    summary = "Edit a webhook endpoint",
    tag = "admin",
    params(IdPath),
    request_body = WebhookPatchBody,
    responses((status = 200, description = "OK", body = Webhook), NotFound, Invalid, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn update_webhook(
    caller: Caller,
    policy: web::Data<WebhookPolicy>,
    path: web::Path<IdPath>,
    body: ApiJson<WebhookPatchBody>,
) -> Result<Json<Webhook>, ApiError> {
    caller.require(P::Administer)?;
    let (b, id) = (body.0, path.id);
    if let Some(url) = &b.url {
        check_url(&policy, url)?;
    }
    Ok(Json(
        run(&caller, move |s, a, now| {
            s.update_webhook(a, now, id, b.url, b.events, b.enabled)
        })
        .await?,
    ))
}

#[utoipa::path(
    delete,
    path = "/v1/{env}/webhooks/{id}",
    summary = "Delete a webhook endpoint",
    tag = "admin",
    params(IdPath),
    responses((status = 204, description = "Deleted"), NotFound, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn delete_webhook(
    caller: Caller,
    path: web::Path<IdPath>,
) -> Result<NoContent, ApiError> {
    caller.require(P::Administer)?;
    let id = path.id;
    run(&caller, move |s, a, now| s.delete_webhook(a, now, id)).await?;
    Ok(NoContent)
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/webhooks", web::get().to(webhooks))
        .route("/webhooks", web::post().to(create_webhook))
        // Before `/webhooks/{id}`, which would otherwise take "event-types" for an id.
        .route("/webhooks/event-types", web::get().to(event_types))
        .route("/webhooks/{id}", web::get().to(webhook))
        .route("/webhooks/{id}", web::patch().to(update_webhook))
        .route("/webhooks/{id}", web::delete().to(delete_webhook))
        .route(
            "/webhooks/{id}/deliveries",
            web::get().to(webhook_deliveries),
        )
        .route("/webhooks/{id}/ping", web::post().to(ping_webhook))
        .route("/deliveries/{id}/retry", web::post().to(retry_delivery));
}
