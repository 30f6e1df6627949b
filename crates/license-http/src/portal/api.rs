//! The portal's API (`/v1/{env}/portal`): sign-in by emailed link, the customer's licenses and
//! devices, reveal, deactivate, offline file, sign-out. See the module above for who may call
//! what.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::web::{self, Json};
use actix_web::{HttpRequest, HttpResponse};
use license_store::activation::NewActivation;
use license_store::activations::ActivationFilter;
use license_store::model::ActivationStatus;
use license_store::portal::PortalCustomer;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Customer, PORTAL_COOKIE, PortalSite};
use crate::AppState;
use crate::admin::query::{EnvPath, IdPath};
use crate::auth::csrf_token;
use crate::error::ApiError;
use crate::extract::{ApiJson, client_ip, environment, request_id};
use crate::public::{self, OfflineFile, PublicActivation, PublicLicense};
use crate::respond::{Accepted, List, NoStore, NotFound};

/// `POST /portal/login`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    /// The email the licenses were assigned to.
    #[schema(value_type = crate::schema::Email)]
    pub email: String,
}

/// The answer to a sign-in request: the same whether the email is known or not.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LinkRequested {
    pub message: &'static str,
}

const LINK_MESSAGE: &str = "If this email holds licenses here, a sign-in link is on its way. \
     It works once, for 15 minutes.";

#[utoipa::path(
    post,
    path = "/v1/{env}/portal/login",
    summary = "Ask for a sign-in link by email (the answer never says whether the email is known)",
    tag = "portal",
    params(EnvPath),
    request_body = LoginBody,
    responses((status = 202, description = "Accepted; a link is mailed if the email holds licenses", body = LinkRequested))
)]
pub(crate) async fn login(
    req: HttpRequest,
    path: web::Path<EnvPath>,
    body: ApiJson<LoginBody>,
    state: web::Data<AppState>,
    site: web::Data<PortalSite>,
) -> Result<Accepted<LinkRequested>, ApiError> {
    let env = environment(&state, &path.env)?;
    if !site.mail {
        return Err(ApiError::EmailOff);
    }
    let ip = client_ip(&req);
    state.limiter.check_ip(ip)?;
    // Every request spends the unknown-key budget, known email or not: how soon 429 comes says
    // nothing about which emails are customers.
    state.limiter.record_unknown(ip)?;
    let email = body.0.email.trim().to_lowercase();
    // One bucket per email as well as per IP: nobody floods one inbox from many addresses.
    let digest: [u8; 32] = Sha256::digest(format!("portal-login:{}:{email}", env.name())).into();
    state.limiter.check_key(&digest)?;
    let base = format!("{}sign-in#", site.page(env.name()));
    let (now, rid) = (state.clock.now(), request_id(&req));
    web::block(move || {
        env.store()
            .request_portal_link(now, &email, &base, &rid, Some(ip.to_string()))
    })
    .await??;
    Ok(Accepted(LinkRequested {
        message: LINK_MESSAGE,
    }))
}

/// `POST /portal/session`: the secret from a sign-in link.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionBody {
    /// The part of the link after `#`.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub token: String,
}

/// A signed-in customer, and the token unsafe requests send as `X-Keysmith-CSRF`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SignedIn {
    pub customer: PortalCustomer,
    pub csrf_token: String,
}

fn cookie(env: &str, value: String, secure: bool) -> Cookie<'static> {
    Cookie::build(PORTAL_COOKIE, value)
        .path(format!("/v1/{env}/portal"))
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .finish()
}

#[utoipa::path(
    post,
    path = "/v1/{env}/portal/session",
    summary = "Sign in with the secret of an emailed link (single use, 15 minutes); sets the keysmith_portal cookie",
    tag = "portal",
    params(EnvPath),
    request_body = SessionBody,
    responses(
        (status = 200, description = "Signed in; `Set-Cookie: keysmith_portal=...; HttpOnly; SameSite=Strict`", body = SignedIn),
        (status = 410, description = "LINK_INVALID: used, expired or unknown")
    )
)]
pub(crate) async fn redeem(
    req: HttpRequest,
    path: web::Path<EnvPath>,
    body: ApiJson<SessionBody>,
    state: web::Data<AppState>,
    site: web::Data<PortalSite>,
) -> Result<HttpResponse, ApiError> {
    let env = environment(&state, &path.env)?;
    let ip = client_ip(&req);
    state.limiter.check_ip(ip)?;
    let token = body.0.token;
    if token.len() != 64
        || !token
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        state.limiter.record_unknown(ip)?;
        return Err(ApiError::InvalidRequest(
            "token: must be the 64 hex characters after # in the sign-in link".into(),
        ));
    }
    let (now, rid, name) = (state.clock.now(), request_id(&req), env.name().to_owned());
    let result = web::block(move || {
        env.store()
            .redeem_portal_link(now, &token, &rid, Some(ip.to_string()))
    })
    .await?;
    let (secret, customer) = match result {
        Ok(v) => v,
        Err(e) => {
            state.limiter.record_unknown(ip)?;
            return Err(e.into());
        }
    };
    let secure = site.public_url.starts_with("https://");
    let body = SignedIn {
        customer,
        csrf_token: csrf_token(&secret),
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .cookie(cookie(&name, secret, secure))
        .json(body))
}

#[utoipa::path(
    get,
    path = "/v1/{env}/portal/me",
    summary = "The signed-in customer and the session's CSRF token",
    tag = "portal",
    params(EnvPath),
    responses((status = 200, description = "OK", body = SignedIn)),
    security(("portal" = []))
)]
pub(crate) async fn me(who: Customer) -> NoStore<SignedIn> {
    NoStore(SignedIn {
        csrf_token: csrf_token(&who.secret),
        customer: who.customer,
    })
}

#[utoipa::path(
    delete,
    path = "/v1/{env}/portal/session",
    summary = "Sign out (ends this session, clears the cookie)",
    tag = "portal",
    params(EnvPath),
    responses((status = 204, description = "Signed out")),
    security(("portal" = []))
)]
pub(crate) async fn logout(
    who: Customer,
    state: web::Data<AppState>,
    site: web::Data<PortalSite>,
) -> Result<HttpResponse, ApiError> {
    let (env, now) = (who.env.clone(), state.clock.now());
    let (secret, actor, id) = (who.secret.clone(), who.actor.clone(), who.customer.id);
    web::block(move || env.store().end_portal_session(now, &secret, &actor, id)).await??;
    let mut gone = cookie(
        who.env.name(),
        String::new(),
        site.public_url.starts_with("https://"),
    );
    gone.make_removal();
    Ok(HttpResponse::NoContent().cookie(gone).finish())
}

#[utoipa::path(
    get,
    path = "/v1/{env}/portal/licenses",
    summary = "The customer's licenses: masked key, product, status, expiry, activations and limit",
    tag = "portal",
    params(EnvPath),
    responses((status = 200, description = "OK", body = List<PublicLicense>)),
    security(("portal" = []))
)]
pub(crate) async fn licenses(who: Customer) -> Result<List<PublicLicense>, ApiError> {
    let (env, id) = (who.env.clone(), who.customer.id);
    let (views, total) = web::block(move || env.store().portal_licenses(id)).await??;
    let items = views
        .iter()
        .map(|v| public::license(&v.license, &v.product))
        .collect();
    Ok(List::new((items, total)))
}

/// A revealed key.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RevealedKey {
    pub key: String,
}

#[utoipa::path(
    post,
    path = "/v1/{env}/portal/licenses/{id}/reveal",
    summary = "The full key of one of the customer's licenses (audited; never cached)",
    tag = "portal",
    params(IdPath),
    responses((status = 200, description = "OK", body = RevealedKey), NotFound),
    security(("portal" = []))
)]
pub(crate) async fn reveal(
    who: Customer,
    path: web::Path<IdPath>,
    state: web::Data<AppState>,
) -> Result<NoStore<RevealedKey>, ApiError> {
    let id = path.id;
    let key = who
        .run(&state, move |s, customer, actor, now| {
            s.portal_reveal(actor, now, customer, id)
        })
        .await?;
    Ok(NoStore(RevealedKey {
        key: key.expose().to_owned(),
    }))
}

#[utoipa::path(
    get,
    path = "/v1/{env}/portal/licenses/{id}/activations",
    summary = "The devices that hold an active activation of one of the customer's licenses",
    tag = "portal",
    params(IdPath),
    responses((status = 200, description = "OK", body = List<PublicActivation>), NotFound),
    security(("portal" = []))
)]
pub(crate) async fn devices(
    who: Customer,
    path: web::Path<IdPath>,
) -> Result<List<PublicActivation>, ApiError> {
    let (env, id, customer) = (who.env.clone(), path.id, who.customer.id);
    let (items, total) = web::block(move || {
        env.store().portal_license(customer, id)?;
        let filter = ActivationFilter {
            license: Some(id),
            fingerprint: None,
            status: Some(ActivationStatus::Active),
        };
        let page = license_store::Page::new(license_store::Page::MAX_LIMIT, 0)?;
        env.store().activations(&filter, page)
    })
    .await??;
    let items = items
        .iter()
        .map(|v| public::activation(&v.activation))
        .collect();
    Ok(List::new((items, total)))
}

#[utoipa::path(
    post,
    path = "/v1/{env}/portal/activations/{id}/deactivate",
    summary = "Deactivate one of the customer's devices, freeing its slot",
    tag = "portal",
    params(IdPath),
    responses((status = 200, description = "Deactivated", body = PublicActivation), NotFound),
    security(("portal" = []))
)]
pub(crate) async fn deactivate(
    who: Customer,
    path: web::Path<IdPath>,
    state: web::Data<AppState>,
) -> Result<Json<PublicActivation>, ApiError> {
    let id = path.id;
    let a = who
        .run(&state, move |s, customer, actor, now| {
            s.deactivate_own_activation(actor, now, customer, id)
        })
        .await?;
    Ok(Json(public::activation(&a)))
}

/// Query of the offline file: the device it is for.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct OfflineQuery {
    /// The device ID of the air-gapped machine (its software shows it). The machine takes one
    /// of the license's activation slots, like an online activation.
    #[param(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]+$"
    )]
    fingerprint: String,
}

#[utoipa::path(
    get,
    path = "/v1/{env}/portal/licenses/{id}/offline-file",
    summary = "Activate an air-gapped machine and download its signed offline file (audited)",
    tag = "portal",
    params(IdPath, OfflineQuery),
    responses(
        (status = 200, description = "The file, as an attachment", body = OfflineFile),
        NotFound,
        (status = 409, description = "OFFLINE_FILE_REFUSED: the license would not validate now, or has no free slot (`reason`: LIMIT_EXCEEDED, REVOKED, ...)")
    ),
    security(("portal" = []))
)]
pub(crate) async fn offline_file(
    who: Customer,
    path: web::Path<IdPath>,
    q: web::Query<OfflineQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let fp = license_core::Fingerprint::new(&q.into_inner().fingerprint).map_err(|_| {
        ApiError::InvalidRequest("fingerprint: must be 1-255 printable characters".into())
    })?;
    let (env, id, customer, actor) = (who.env.clone(), path.id, who.customer.id, who.actor);
    let now = state.clock.now();
    let file = web::block(move || -> Result<_, ApiError> {
        // The machine takes a slot (or already holds one), through the same race-free check as
        // an online activation: an offline file never gets around the limit.
        let key = env.store().portal_key(customer, id)?;
        let settings = env.settings()?;
        let new = NewActivation {
            fingerprint: fp.clone(),
            name: Some("Offline machine".into()),
            platform: None,
            ip: actor.ip.clone(),
            metadata: None,
        };
        let answer = env
            .store()
            .activate(&actor, now, key.expose(), new, settings.grace())?;
        if !answer.decision.outcome.is_success() {
            return Ok(Err(answer.decision.outcome.code()));
        }
        let view = env.store().portal_license(customer, id)?;
        public::offline_file(&env, &view, Some(fp.as_str()), &actor, now)
    })
    .await??
    .map_err(ApiError::OfflineFileRefused)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"license-{id}.json\""),
        ))
        .json(file))
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/v1/{env}/portal")
            .route("/login", web::post().to(login))
            .route("/session", web::post().to(redeem))
            .route("/session", web::delete().to(logout))
            .route("/me", web::get().to(me))
            .route("/licenses", web::get().to(licenses))
            .route("/licenses/{id}/reveal", web::post().to(reveal))
            .route("/licenses/{id}/activations", web::get().to(devices))
            .route("/licenses/{id}/offline-file", web::get().to(offline_file))
            .route("/activations/{id}/deactivate", web::post().to(deactivate)),
    );
}
