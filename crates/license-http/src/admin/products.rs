//! Products (`/products`): the things licenses are sold for; a product's code is the key prefix
//! and never changes.

use actix_web::web::{self, Json};
use license_store::StoreError;
use license_store::model::{JsonObject, Product, ProductStatus};
use license_store::products::{NewProduct, ProductPatch};
use serde::Deserialize;

use super::query::PageQuery;
use super::query::{EnvPath, IdPath};
use super::run;
use crate::auth::{Caller, Permission as P};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::respond::{Conflict, Created, Denied, Invalid, List, NoContent, NotFound};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProductBody {
    #[schema(value_type = crate::schema::Name)]
    name: String,
    /// 2–8 characters of `A-Z0-9`; starts every chunked key.
    #[schema(pattern = r"^[A-Z0-9]{2,8}$")]
    code: String,
    #[schema(value_type = Option<Object>)]
    metadata: Option<JsonObject>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProductPatchBody {
    #[schema(value_type = Option<crate::schema::Name>)]
    name: Option<String>,
    #[schema(value_type = Option<ProductStatus>)]
    status: Option<ProductStatus>,
    #[schema(value_type = Option<Object>)]
    metadata: Option<JsonObject>,
    /// Immutable: sending it is 422 `IMMUTABLE_FIELD`.
    #[schema(ignore)]
    code: Option<serde_json::Value>,
}

#[utoipa::path(
    get,
    path = "/v1/{env}/products",
    summary = "List products",
    tag = "admin",
    params(EnvPath),
    responses((status = 200, description = "OK", body = List<Product>), Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn products(
    caller: Caller,
    q: web::Query<PageQuery>,
) -> Result<List<Product>, ApiError> {
    caller.require(P::Read)?;
    let page = q.page()?;
    Ok(List::new(
        run(&caller, move |s, _, _| s.products(page)).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/v1/{env}/products",
    summary = "Create a product",
    tag = "admin",
    params(EnvPath),
    request_body = ProductBody,
    responses((status = 201, description = "Created", body = Product), Conflict, Invalid, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn create_product(
    caller: Caller,
    body: ApiJson<ProductBody>,
) -> Result<Created<Product>, ApiError> {
    caller.require(P::ManageCatalog)?;
    let b = body.0;
    let new = NewProduct {
        name: b.name,
        code: b.code,
        metadata: b.metadata,
    };
    let p = run(&caller, move |s, a, now| s.create_product(a, now, new)).await?;
    Ok(Created(p))
}

#[utoipa::path(
    get,
    path = "/v1/{env}/products/{id}",
    summary = "Get a product",
    tag = "admin",
    params(IdPath),
    responses((status = 200, description = "OK", body = Product), NotFound, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn product(
    caller: Caller,
    path: web::Path<IdPath>,
) -> Result<Json<Product>, ApiError> {
    caller.require(P::Read)?;
    let id = path.id;
    Ok(Json(run(&caller, move |s, _, _| s.product(id)).await?))
}

#[utoipa::path(
    patch,
    path = "/v1/{env}/products/{id}",
    summary = "Edit a product (code is immutable)",
    tag = "admin",
    params(IdPath),
    request_body = ProductPatchBody,
    responses((status = 200, description = "OK", body = Product), NotFound, Invalid, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn update_product(
    caller: Caller,
    path: web::Path<IdPath>,
    body: ApiJson<ProductPatchBody>,
) -> Result<Json<Product>, ApiError> {
    caller.require(P::ManageCatalog)?;
    let b = body.0;
    if b.code.is_some() {
        return Err(StoreError::Immutable { field: "code" }.into());
    }
    let (id, patch) = (
        path.id,
        ProductPatch {
            name: b.name,
            status: b.status,
            metadata: b.metadata,
        },
    );
    Ok(Json(
        run(&caller, move |s, a, now| {
            s.update_product(a, now, id, patch)
        })
        .await?,
    ))
}

#[utoipa::path(
    delete,
    path = "/v1/{env}/products/{id}",
    summary = "Delete a product nothing refers to",
    tag = "admin",
    params(IdPath),
    responses((status = 204, description = "Deleted"), NotFound, Conflict, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn delete_product(
    caller: Caller,
    path: web::Path<IdPath>,
) -> Result<NoContent, ApiError> {
    caller.require(P::ManageCatalog)?;
    let id = path.id;
    run(&caller, move |s, a, now| s.delete_product(a, now, id)).await?;
    Ok(NoContent)
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/products", web::get().to(products))
        .route("/products", web::post().to(create_product))
        .route("/products/{id}", web::get().to(product))
        .route("/products/{id}", web::patch().to(update_product))
        .route("/products/{id}", web::delete().to(delete_product));
}
