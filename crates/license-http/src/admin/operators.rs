//! Operator management (SPEC §11) under `/v1/operators`: list, invite (a new operator with a
//! one-time set-password link), read, edit name, roles and disabled, reset a password, and the
//! control audit. Who may call: a signed-in operator who is admin somewhere, and for a change
//! admin in every environment it touches (the target's roles before and after). No change may leave an environment
//! without an enabled admin (409 `LAST_ADMIN`).

use std::collections::BTreeMap;

use actix_web::web::{self, Json};
use license_store::StoreError;
use license_store::control::{ControlAuditEntry, NewOperator, Operator, OperatorPatch};
use license_store::tokens::Role;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::links::password_link;
use super::query::PageQuery;
use super::sessions::operators;
use crate::AppState;
use crate::auth::SessionCaller;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::respond::{CreatedWithSecret, List, NoStore, Secret};

/// `POST /v1/operators`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteBody {
    #[schema(value_type = crate::schema::Email)]
    email: String,
    #[schema(value_type = crate::schema::Name)]
    name: String,
    /// Role per environment, e.g. `{"production": "viewer", "staging": "admin"}`.
    #[schema(value_type = Object)]
    roles: BTreeMap<String, Role>,
}

/// `PATCH /v1/operators/{id}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OperatorPatchBody {
    #[schema(value_type = Option<crate::schema::Name>)]
    name: Option<String>,
    /// Replaces every role.
    #[schema(value_type = Option<Object>)]
    roles: Option<BTreeMap<String, Role>>,
    disabled: Option<bool>,
}

/// A fresh one-time link for an operator to choose a password.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PasswordLink {
    set_password_url: String,
}

/// `/v1/operators/{id}`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct OperatorPath {
    /// Operator id
    id: Uuid,
}

/// Refuses roles in environments this deployment does not serve (422 on `roles`).
fn check_environments(state: &AppState, roles: &BTreeMap<String, Role>) -> Result<(), ApiError> {
    match roles.keys().find(|env| state.envs.get(env).is_none()) {
        Some(env) => Err(StoreError::invalid(
            "roles",
            format!("there is no environment {env:?} in this deployment"),
        )
        .into()),
        None => Ok(()),
    }
}

/// Listing and reading: an admin somewhere.
fn require_some_admin(caller: &SessionCaller) -> Result<(), ApiError> {
    if caller
        .session
        .operator
        .roles
        .values()
        .any(|r| *r == Role::Admin)
    {
        Ok(())
    } else {
        Err(ApiError::Forbidden {
            role: "non-admin",
            permission: "manage operators",
        })
    }
}

#[utoipa::path(
    get,
    path = "/v1/operators",
    summary = "Every operator with its roles",
    tag = "operators",
    responses((status = 200, description = "OK", body = List<Operator>), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("session" = []))
)]
pub(crate) async fn list(
    caller: SessionCaller,
    state: web::Data<AppState>,
) -> Result<List<Operator>, ApiError> {
    require_some_admin(&caller)?;
    let control = operators(&state)?.control.clone();
    Ok(List::all(web::block(move || control.operators()).await??))
}

#[utoipa::path(
    post,
    path = "/v1/operators",
    summary = "Invite an operator: answers it with a one-time set-password link (valid 3 days), shown once",
    tag = "operators",
    request_body = InviteBody,
    responses((status = 201, description = "Invited: the operator plus `set_password_url`, its one-time link, shown this once", body = Operator), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN or CSRF_FAILED"), (status = 409, description = "DUPLICATE (email)"), (status = 422, description = "INVALID_FIELD (email, name, roles)")),
    security(("session" = []))
)]
pub(crate) async fn invite(
    caller: SessionCaller,
    state: web::Data<AppState>,
    body: ApiJson<InviteBody>,
) -> Result<CreatedWithSecret<Operator>, ApiError> {
    let b = body.0;
    require_some_admin(&caller)?;
    check_environments(&state, &b.roles)?;
    caller.require_admin_in(b.roles.keys())?;
    let ops = operators(&state)?;
    let (control, url, now) = (
        ops.control.clone(),
        ops.public_admin_url.clone(),
        state.clock.now(),
    );
    let (operator, link) = web::block(move || -> Result<_, StoreError> {
        let new = NewOperator {
            email: b.email,
            name: b.name,
            password_hash: None,
            roles: b.roles,
        };
        let operator = control.create_operator(&caller.actor, now, new)?;
        let link = password_link(&control, &url, &caller.actor, now, operator.id)?;
        Ok((operator, link))
    })
    .await??;
    Ok(CreatedWithSecret {
        item: operator,
        secret: Secret::SetPasswordUrl(link),
    })
}

#[utoipa::path(
    get,
    path = "/v1/operators/{id}",
    summary = "One operator",
    tag = "operators",
    params(OperatorPath),
    responses((status = 200, description = "OK", body = Operator), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN"), (status = 404, description = "NOT_FOUND")),
    security(("session" = []))
)]
pub(crate) async fn get(
    caller: SessionCaller,
    state: web::Data<AppState>,
    path: web::Path<OperatorPath>,
) -> Result<Json<Operator>, ApiError> {
    require_some_admin(&caller)?;
    let (control, id) = (operators(&state)?.control.clone(), path.id);
    Ok(Json(web::block(move || control.operator(id)).await??))
}

#[utoipa::path(
    patch,
    path = "/v1/operators/{id}",
    summary = "Edit an operator's name, roles (replaced whole) or disabled flag; disabling ends its sessions",
    tag = "operators",
    params(OperatorPath),
    request_body = OperatorPatchBody,
    responses((status = 200, description = "OK", body = Operator), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN or CSRF_FAILED"), (status = 404, description = "NOT_FOUND"), (status = 409, description = "LAST_ADMIN: an environment would have no enabled admin"), (status = 422, description = "INVALID_FIELD (name, roles)")),
    security(("session" = []))
)]
pub(crate) async fn update(
    caller: SessionCaller,
    state: web::Data<AppState>,
    path: web::Path<OperatorPath>,
    body: ApiJson<OperatorPatchBody>,
) -> Result<Json<Operator>, ApiError> {
    let b = body.0;
    if let Some(roles) = &b.roles {
        check_environments(&state, roles)?;
    }
    let (control, now, id) = (
        operators(&state)?.control.clone(),
        state.clock.now(),
        path.id,
    );
    let before = {
        let control = control.clone();
        web::block(move || control.operator(id)).await??
    };
    require_some_admin(&caller)?;
    caller.require_admin_in(before.roles.keys())?;
    if let Some(roles) = &b.roles {
        caller.require_admin_in(roles.keys())?;
    }
    let patch = OperatorPatch {
        name: b.name,
        roles: b.roles,
        disabled: b.disabled,
    };
    let after =
        web::block(move || control.update_operator(&caller.actor, now, id, patch)).await??;
    Ok(Json(after))
}

#[utoipa::path(
    post,
    path = "/v1/operators/{id}/reset-password",
    summary = "A new one-time set-password link for an operator (valid 3 days), shown once",
    tag = "operators",
    params(OperatorPath),
    responses((status = 200, description = "The link", body = PasswordLink), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN or CSRF_FAILED"), (status = 404, description = "NOT_FOUND")),
    security(("session" = []))
)]
pub(crate) async fn reset_password(
    caller: SessionCaller,
    state: web::Data<AppState>,
    path: web::Path<OperatorPath>,
) -> Result<NoStore<PasswordLink>, ApiError> {
    let ops = operators(&state)?;
    let (control, url, now, id) = (
        ops.control.clone(),
        ops.public_admin_url.clone(),
        state.clock.now(),
        path.id,
    );
    let target = {
        let control = control.clone();
        web::block(move || control.operator(id)).await??
    };
    require_some_admin(&caller)?;
    caller.require_admin_in(target.roles.keys())?;
    let link = web::block(move || password_link(&control, &url, &caller.actor, now, id)).await??;
    Ok(NoStore(PasswordLink {
        set_password_url: link,
    }))
}

#[utoipa::path(
    get,
    path = "/v1/operators/audit",
    summary = "The control audit: sign-ins (and failures, with IP), password and TOTP changes, operator changes; newest first",
    tag = "operators",
    responses((status = 200, description = "OK", body = List<ControlAuditEntry>), (status = 401, description = "UNAUTHORIZED"), (status = 403, description = "FORBIDDEN")),
    security(("session" = []))
)]
pub(crate) async fn audit(
    caller: SessionCaller,
    state: web::Data<AppState>,
    q: web::Query<PageQuery>,
) -> Result<List<ControlAuditEntry>, ApiError> {
    require_some_admin(&caller)?;
    let (control, page) = (operators(&state)?.control.clone(), q.page()?);
    Ok(List::new(
        web::block(move || control.control_audit(page)).await??,
    ))
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/v1/operators")
            .route("", web::get().to(list))
            .route("", web::post().to(invite))
            .route("/audit", web::get().to(audit))
            .route("/{id}", web::get().to(get))
            .route("/{id}", web::patch().to(update))
            .route("/{id}/reset-password", web::post().to(reset_password)),
    );
}
