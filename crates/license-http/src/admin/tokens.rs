//! Admin tokens (`/tokens`): for programs; a token's secret is shown once, at creation.

use actix_web::web;
use license_store::tokens::{Role, Token};
use serde::Deserialize;

use super::query::{EnvPath, IdPath};
use super::run;
use crate::auth::{Caller, Permission as P};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::respond::{
    Conflict, CreatedWithSecret, Denied, Invalid, List, NoContent, NotFound, Secret,
};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenBody {
    /// 1–200 characters, no `:`, not a reserved actor name (`system`, `sweeper`, `abuse-detector`).
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^(?!\s*(?:[Ss][Yy][Ss][Tt][Ee][Mm]|[Ss][Ww][Ee][Ee][Pp][Ee][Rr]|[Aa][Bb][Uu][Ss][Ee]-[Dd][Ee][Tt][Ee][Cc][Tt][Oo][Rr])\s*$)(?=[\s\S]*\S)[^:\x00-\x1F\x7F-\x9F]+$"
    )]
    name: String,
    role: Role,
}

#[utoipa::path(
    get,
    path = "/v1/{env}/tokens",
    summary = "List admin tokens (never their secrets)",
    tag = "admin",
    params(EnvPath),
    responses((status = 200, description = "OK", body = List<Token>), Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn tokens(caller: Caller) -> Result<List<Token>, ApiError> {
    caller.require(P::Administer)?;
    Ok(List::all(run(&caller, |s, _, _| s.tokens()).await?))
}

#[utoipa::path(
    post,
    path = "/v1/{env}/tokens",
    summary = "Create a token; the response holds its secret, shown once",
    tag = "admin",
    params(EnvPath),
    request_body = TokenBody,
    responses((status = 201, description = "Created: the token plus `token`, its secret, shown this once", body = Token), Conflict, Invalid, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn create_token(
    caller: Caller,
    body: ApiJson<TokenBody>,
) -> Result<CreatedWithSecret<Token>, ApiError> {
    caller.require(P::Administer)?;
    let b = body.0;
    let (token, secret) = run(&caller, move |s, a, now| {
        s.create_token(a, now, &b.name, b.role)
    })
    .await?;
    Ok(CreatedWithSecret {
        item: token,
        secret: Secret::Token(secret),
    })
}

#[utoipa::path(
    delete,
    path = "/v1/{env}/tokens/{id}",
    summary = "Delete a token",
    tag = "admin",
    params(IdPath),
    responses((status = 204, description = "Deleted"), NotFound, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn delete_token(
    caller: Caller,
    path: web::Path<IdPath>,
) -> Result<NoContent, ApiError> {
    caller.require(P::Administer)?;
    let id = path.id;
    run(&caller, move |s, a, now| s.delete_token(a, now, id)).await?;
    Ok(NoContent)
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/tokens", web::get().to(tokens))
        .route("/tokens", web::post().to(create_token))
        .route("/tokens/{id}", web::delete().to(delete_token));
}
