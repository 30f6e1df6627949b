//! Generators (`/generators`): templates that mint one product's keys (format, default limit,
//! validity, expiry basis, flags, lease TTL). Bulk minting from a generator is in `jobs`.

use actix_web::web::{self, Json};
use license_core::KeyFormat;
use license_store::StoreError;
use license_store::generators::{GeneratorPatch, NewGenerator, check_format};
use license_store::model::{ExpiryBasis, Generator, JsonObject};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::query::{EnvPath, IdPath};
use super::query::{activation_limit_schema, page, present};
use super::run;
use crate::auth::{Caller, Permission as P};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::respond::{Conflict, Created, Denied, Invalid, List, NoContent, NotFound};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GeneratorBody {
    product_id: Uuid,
    #[schema(value_type = crate::schema::Name)]
    name: String,
    /// `{"kind":"uuid"}`, `{"kind":"chunked","chunks","chunk_len","check"}` or
    /// `{"kind":"pattern","pattern"}`, carrying at least 80 random bits (SPEC §5).
    #[schema(value_type = Object)]
    format: KeyFormat,
    #[schema(schema_with = activation_limit_schema)]
    default_activation_limit: Option<i64>,
    #[schema(minimum = 1, maximum = 36500)]
    default_validity_days: Option<i64>,
    #[schema(value_type = Option<ExpiryBasis>)]
    expiry_basis: Option<ExpiryBasis>,
    #[schema(value_type = Option<Object>)]
    default_feature_flags: Option<JsonObject>,
    #[schema(minimum = 60, maximum = 604800)]
    lease_ttl_seconds: Option<i64>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GeneratorPatchBody {
    #[schema(value_type = Option<crate::schema::Name>)]
    name: Option<String>,
    #[schema(schema_with = activation_limit_schema)]
    default_activation_limit: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 36500)]
    default_validity_days: Option<Option<i64>>,
    #[schema(value_type = Option<ExpiryBasis>)]
    expiry_basis: Option<ExpiryBasis>,
    #[schema(value_type = Option<Object>)]
    default_feature_flags: Option<JsonObject>,
    #[schema(minimum = 60, maximum = 604800)]
    lease_ttl_seconds: Option<i64>,
    /// Immutable: sending it is 422 `IMMUTABLE_FIELD`.
    #[schema(ignore)]
    product_id: Option<serde_json::Value>,
    /// Immutable: sending it is 422 `IMMUTABLE_FIELD`.
    #[schema(ignore)]
    format: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GeneratorQuery {
    product: Option<Uuid>,
    limit: Option<i64>,
    offset: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/v1/{env}/generators",
    summary = "List generators",
    tag = "admin",
    params(EnvPath),
    responses((status = 200, description = "OK", body = List<Generator>), Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn generators(
    caller: Caller,
    q: web::Query<GeneratorQuery>,
) -> Result<List<Generator>, ApiError> {
    caller.require(P::Read)?;
    let (page, product) = (page(q.limit, q.offset)?, q.product);
    Ok(List::new(
        run(&caller, move |s, _, _| s.generators(product, page)).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/v1/{env}/generators",
    summary = "Create a generator",
    tag = "admin",
    params(EnvPath),
    request_body = GeneratorBody,
    responses((status = 201, description = "Created", body = Generator), Invalid, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn create_generator(
    caller: Caller,
    body: ApiJson<GeneratorBody>,
) -> Result<Created<Generator>, ApiError> {
    caller.require(P::ManageCatalog)?;
    let b = body.0;
    let new = NewGenerator {
        product_id: b.product_id,
        name: b.name,
        format: b.format,
        default_activation_limit: b.default_activation_limit,
        default_validity_days: b.default_validity_days,
        expiry_basis: b.expiry_basis,
        default_feature_flags: b.default_feature_flags,
        lease_ttl_seconds: b.lease_ttl_seconds,
    };
    let g = run(&caller, move |s, a, now| s.create_generator(a, now, new)).await?;
    Ok(Created(g))
}

#[utoipa::path(
    get,
    path = "/v1/{env}/generators/{id}",
    summary = "Get a generator",
    tag = "admin",
    params(IdPath),
    responses((status = 200, description = "OK", body = Generator), NotFound, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn generator(
    caller: Caller,
    path: web::Path<IdPath>,
) -> Result<Json<Generator>, ApiError> {
    caller.require(P::Read)?;
    let id = path.id;
    Ok(Json(run(&caller, move |s, _, _| s.generator(id)).await?))
}

#[utoipa::path(
    patch,
    path = "/v1/{env}/generators/{id}",
    summary = "Edit a generator's defaults",
    tag = "admin",
    params(IdPath),
    request_body = GeneratorPatchBody,
    responses((status = 200, description = "OK", body = Generator), NotFound, Invalid, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn update_generator(
    caller: Caller,
    path: web::Path<IdPath>,
    body: ApiJson<GeneratorPatchBody>,
) -> Result<Json<Generator>, ApiError> {
    caller.require(P::ManageCatalog)?;
    let b = body.0;
    for (field, v) in [("product_id", &b.product_id), ("format", &b.format)] {
        if v.is_some() {
            return Err(StoreError::Immutable { field }.into());
        }
    }
    let patch = GeneratorPatch {
        name: b.name,
        default_activation_limit: b.default_activation_limit,
        default_validity_days: b.default_validity_days,
        expiry_basis: b.expiry_basis,
        default_feature_flags: b.default_feature_flags,
        lease_ttl_seconds: b.lease_ttl_seconds,
    };
    let id = path.id;
    Ok(Json(
        run(&caller, move |s, a, now| {
            s.update_generator(a, now, id, patch)
        })
        .await?,
    ))
}

#[utoipa::path(
    delete,
    path = "/v1/{env}/generators/{id}",
    summary = "Delete a generator no license was minted from",
    tag = "admin",
    params(IdPath),
    responses((status = 204, description = "Deleted"), NotFound, Conflict, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn delete_generator(
    caller: Caller,
    path: web::Path<IdPath>,
) -> Result<NoContent, ApiError> {
    caller.require(P::ManageCatalog)?;
    let id = path.id;
    run(&caller, move |s, a, now| s.delete_generator(a, now, id)).await?;
    Ok(NoContent)
}

/// `POST /generators/format-preview`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FormatPreviewBody {
    #[schema(value_type = Object)]
    format: KeyFormat,
    /// The product whose code starts chunked keys (else `ACME` stands in).
    product_id: Option<Uuid>,
}

/// What a key format gives: its randomness and one example key (random, never stored).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct FormatPreview {
    entropy_bits: f64,
    min_entropy_bits: f64,
    example: String,
}

#[utoipa::path(
    post,
    path = "/v1/{env}/generators/format-preview",
    summary = "Check a key format: its entropy and an example key, or the error creating a generator with it would give",
    tag = "admin",
    params(EnvPath),
    request_body = FormatPreviewBody,
    responses((status = 200, description = "OK", body = FormatPreview), NotFound, Invalid, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn format_preview(
    caller: Caller,
    body: ApiJson<FormatPreviewBody>,
) -> Result<Json<FormatPreview>, ApiError> {
    caller.require(P::Read)?;
    let FormatPreviewBody { format, product_id } = body.0;
    check_format(&format)?;
    let code = match product_id {
        Some(id) => run(&caller, move |s, _, _| s.product(id)).await?.code,
        None => "ACME".to_owned(),
    };
    let example = format.generate(&code, &mut rand::rng());
    Ok(Json(FormatPreview {
        entropy_bits: (format.entropy_bits() * 10.0).round() / 10.0,
        min_entropy_bits: license_core::keys::MIN_ENTROPY_BITS,
        example: example.expose().to_owned(),
    }))
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/generators/format-preview", web::post().to(format_preview))
        .route("/generators", web::get().to(generators))
        .route("/generators", web::post().to(create_generator))
        .route("/generators/{id}", web::get().to(generator))
        .route("/generators/{id}", web::patch().to(update_generator))
        .route("/generators/{id}", web::delete().to(delete_generator));
}
