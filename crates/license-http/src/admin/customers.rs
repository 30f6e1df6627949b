//! Customers (`/customers`): who licenses are assigned to; emails are unique case-insensitively.

use actix_web::web::{self, Json};
use license_store::customers::{CustomerPatch, NewCustomer};
use license_store::model::{Customer, JsonObject};
use serde::Deserialize;

use super::query::page;
use super::query::{EnvPath, IdPath};
use super::run;
use crate::auth::{Caller, Permission as P};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::respond::{Conflict, Created, Denied, Invalid, List, NoContent, NotFound};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CustomerBody {
    #[schema(value_type = crate::schema::Name)]
    name: String,
    #[schema(value_type = crate::schema::Email)]
    email: String,
    #[schema(value_type = Option<Object>)]
    metadata: Option<JsonObject>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CustomerPatchBody {
    #[schema(value_type = Option<crate::schema::Name>)]
    name: Option<String>,
    #[schema(value_type = Option<crate::schema::Email>)]
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
    params(EnvPath),
    responses((status = 200, description = "OK", body = List<Customer>), Denied),
    security(("bearer" = []), ("session" = []))
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
    params(EnvPath),
    request_body = CustomerBody,
    responses((status = 201, description = "Created", body = Customer), Conflict, Invalid, Denied),
    security(("bearer" = []), ("session" = []))
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
    params(IdPath),
    responses((status = 200, description = "OK", body = Customer), NotFound, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn customer(
    caller: Caller,
    path: web::Path<IdPath>,
) -> Result<Json<Customer>, ApiError> {
    caller.require(P::Read)?;
    let id = path.id;
    Ok(Json(run(&caller, move |s, _, _| s.customer(id)).await?))
}

#[utoipa::path(
    patch,
    path = "/v1/{env}/customers/{id}",
    summary = "Edit a customer",
    tag = "admin",
    params(IdPath),
    request_body = CustomerPatchBody,
    responses((status = 200, description = "OK", body = Customer), NotFound, Conflict, Invalid, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn update_customer(
    caller: Caller,
    path: web::Path<IdPath>,
    body: ApiJson<CustomerPatchBody>,
) -> Result<Json<Customer>, ApiError> {
    caller.require(P::ManageCatalog)?;
    let b = body.0;
    let (id, patch) = (
        path.id,
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
    params(IdPath),
    responses((status = 204, description = "Deleted"), NotFound, Conflict, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn delete_customer(
    caller: Caller,
    path: web::Path<IdPath>,
) -> Result<NoContent, ApiError> {
    caller.require(P::ManageCatalog)?;
    let id = path.id;
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
