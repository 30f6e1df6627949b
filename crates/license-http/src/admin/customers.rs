//! Customers (`/customers`): who licenses are assigned to; emails are unique case-insensitively.

use actix_web::web::{self, Json};
use license_store::catalog::{CustomerPatch, NewCustomer};
use license_store::model::{Customer, JsonObject};
use serde::Deserialize;
use uuid::Uuid;

use super::query::page;
use super::run;
use crate::auth::{Caller, Permission as P};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::respond::{Created, List, NoContent};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CustomerBody {
    name: String,
    email: String,
    #[schema(value_type = Option<Object>)]
    metadata: Option<JsonObject>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CustomerPatchBody {
    name: Option<String>,
    email: Option<String>,
    #[schema(value_type = Option<Object>)]
    metadata: Option<JsonObject>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CustomerQuery {
    q: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/v1/{env}/customers",
    summary = "List customers (q searches name and email)",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name")),
    responses((status = 200, description = "OK"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn customers(
    caller: Caller,
    q: web::Query<CustomerQuery>,
) -> Result<List<Customer>, ApiError> {
    caller.require(P::Read)?;
    let page = page(q.limit, q.offset)?;
    let text = q.q.clone();
    Ok(List::new(
        run(&caller, move |s, _, _| s.customers(text.as_deref(), page)).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/v1/{env}/customers",
    summary = "Create a customer",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name")),
    request_body = CustomerBody,
    responses((status = 201, description = "Created"), (status = 409, description = "Conflict: IN_USE, DUPLICATE, INVALID_TRANSITION, LICENSE_NOT_EDITABLE or LICENSE_HAS_ACTIVATIONS"), (status = 422, description = "INVALID_FIELD, IMMUTABLE_FIELD or WEAK_KEY_FORMAT (the error names the field)"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn create_customer(
    caller: Caller,
    body: ApiJson<CustomerBody>,
) -> Result<Created<Customer>, ApiError> {
    caller.require(P::ManageCatalog)?;
    let b = body.0;
    let new = NewCustomer {
        name: b.name,
        email: b.email,
        metadata: b.metadata,
    };
    let c = run(&caller, move |s, a, now| s.create_customer(a, now, new)).await?;
    Ok(Created(c))
}

#[utoipa::path(
    get,
    path = "/v1/{env}/customers/{id}",
    summary = "Get a customer",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name"), ("id" = Uuid, Path, description = "Id")),
    responses((status = 200, description = "OK"), (status = 404, description = "NOT_FOUND"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn customer(
    caller: Caller,
    path: web::Path<(String, Uuid)>,
) -> Result<Json<Customer>, ApiError> {
    caller.require(P::Read)?;
    let id = path.1;
    Ok(Json(run(&caller, move |s, _, _| s.customer(id)).await?))
}

#[utoipa::path(
    patch,
    path = "/v1/{env}/customers/{id}",
    summary = "Edit a customer",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name"), ("id" = Uuid, Path, description = "Id")),
    request_body = CustomerPatchBody,
    responses((status = 200, description = "OK"), (status = 404, description = "NOT_FOUND"), (status = 409, description = "Conflict: IN_USE, DUPLICATE, INVALID_TRANSITION, LICENSE_NOT_EDITABLE or LICENSE_HAS_ACTIVATIONS"), (status = 422, description = "INVALID_FIELD, IMMUTABLE_FIELD or WEAK_KEY_FORMAT (the error names the field)"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn update_customer(
    caller: Caller,
    path: web::Path<(String, Uuid)>,
    body: ApiJson<CustomerPatchBody>,
) -> Result<Json<Customer>, ApiError> {
    caller.require(P::ManageCatalog)?;
    let b = body.0;
    let (id, patch) = (
        path.1,
        CustomerPatch {
            name: b.name,
            email: b.email,
            metadata: b.metadata,
        },
    );
    Ok(Json(
        run(&caller, move |s, a, now| {
            s.update_customer(a, now, id, patch)
        })
        .await?,
    ))
}

#[utoipa::path(
    delete,
    path = "/v1/{env}/customers/{id}",
    summary = "Delete a customer who holds no license",
    tag = "admin",
    params(("env" = String, Path, description = "Environment name"), ("id" = Uuid, Path, description = "Id")),
    responses((status = 204, description = "Deleted"), (status = 404, description = "NOT_FOUND"), (status = 409, description = "Conflict: IN_USE, DUPLICATE, INVALID_TRANSITION, LICENSE_NOT_EDITABLE or LICENSE_HAS_ACTIVATIONS"), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("bearer" = []))
)]
pub(crate) async fn delete_customer(
    caller: Caller,
    path: web::Path<(String, Uuid)>,
) -> Result<NoContent, ApiError> {
    caller.require(P::ManageCatalog)?;
    let id = path.1;
    run(&caller, move |s, a, now| s.delete_customer(a, now, id)).await?;
    Ok(NoContent)
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/customers", web::get().to(customers))
        .route("/customers", web::post().to(create_customer))
        .route("/customers/{id}", web::get().to(customer))
        .route("/customers/{id}", web::patch().to(update_customer))
        .route("/customers/{id}", web::delete().to(delete_customer));
}
