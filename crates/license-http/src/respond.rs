//! Typed success responses: a handler says what it answers (`Json<T>`, [`Created<T>`],
//! [`Accepted<T>`], [`List<T>`], [`NoContent`]) so the status and body shape are in its signature
//! and in the OpenAPI document, not in a hand-built `HttpResponse`.

use actix_web::body::BoxBody;
use actix_web::{HttpRequest, HttpResponse, Responder};
use serde::Serialize;

/// 200 with `{"items": [...], "total": N}`: one page of a list and the number of all matches.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct List<T> {
    /// The rows of this page.
    pub items: Vec<T>,
    /// How many rows match, over every page.
    pub total: i64,
}

impl<T> List<T> {
    /// A page and the total.
    pub fn new((items, total): (Vec<T>, i64)) -> Self {
        Self { items, total }
    }

    /// A whole list (no paging): the total is its length.
    pub fn all(items: Vec<T>) -> Self {
        let total = i64::try_from(items.len()).unwrap_or(i64::MAX);
        Self { items, total }
    }
}

impl<T: Serialize> Responder for List<T> {
    type Body = BoxBody;

    fn respond_to(self, _: &HttpRequest) -> HttpResponse {
        HttpResponse::Ok().json(self)
    }
}

/// 201 with the created resource.
#[derive(Debug)]
pub struct Created<T>(pub T);

impl<T: Serialize> Responder for Created<T> {
    type Body = BoxBody;

    fn respond_to(self, _: &HttpRequest) -> HttpResponse {
        HttpResponse::Created().json(self.0)
    }
}

/// 202: the request was queued; the body says what will do the work.
#[derive(Debug)]
pub struct Accepted<T>(pub T);

impl<T: Serialize> Responder for Accepted<T> {
    type Body = BoxBody;

    fn respond_to(self, _: &HttpRequest) -> HttpResponse {
        HttpResponse::Accepted().json(self.0)
    }
}

/// 204 with no body.
#[derive(Debug)]
pub struct NoContent;

impl Responder for NoContent {
    type Body = BoxBody;

    fn respond_to(self, _: &HttpRequest) -> HttpResponse {
        HttpResponse::NoContent().finish()
    }
}

/// 201 with a resource and its secret, shown this once (a license's key, a token's secret, a
/// webhook's signing secret): the resource's fields plus one more. Never cached.
#[derive(Debug, Serialize)]
pub struct CreatedWithSecret<T> {
    /// The resource.
    #[serde(flatten)]
    pub item: T,
    /// The secret, under the field name the resource uses for it.
    #[serde(flatten)]
    pub secret: Secret,
}

/// A shown-once secret and the JSON field it goes in.
#[derive(Debug, Serialize)]
pub enum Secret {
    /// A license's full key.
    #[serde(rename = "key")]
    Key(String),
    /// An admin token's secret.
    #[serde(rename = "token")]
    Token(String),
    /// A webhook endpoint's signing secret.
    #[serde(rename = "secret")]
    Signing(String),
    /// An invited operator's one-time link to choose a password.
    #[serde(rename = "set_password_url")]
    SetPasswordUrl(String),
}

impl<T: Serialize> Responder for CreatedWithSecret<T> {
    type Body = BoxBody;

    fn respond_to(self, _: &HttpRequest) -> HttpResponse {
        HttpResponse::Created()
            .insert_header(("Cache-Control", "no-store"))
            .json(self)
    }
}

impl From<license_store::licenses::Created>
    for CreatedWithSecret<license_store::model::LicenseView>
{
    fn from(c: license_store::licenses::Created) -> Self {
        Self {
            secret: Secret::Key(c.key.expose().to_owned()),
            item: c.license,
        }
    }
}

/// 200 with a body that holds a secret (a revealed key, a TOTP secret, a set-password link):
/// never cached.
#[derive(Debug)]
pub struct NoStore<T>(pub T);

impl<T: Serialize> Responder for NoStore<T> {
    type Body = BoxBody;

    fn respond_to(self, _: &HttpRequest) -> HttpResponse {
        HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .json(self.0)
    }
}

// Error responses that many admin routes share, so each route's `#[utoipa::path]` names them
// instead of repeating them (the OpenAPI document only: `ApiError` builds the bodies).

/// 401 and 403, which every admin route can answer.
#[derive(Debug, utoipa::IntoResponses)]
pub enum Denied {
    /// No valid credentials.
    #[response(status = 401, description = "UNAUTHORIZED")]
    Unauthorized,
    /// The caller's role lacks the route's permission.
    #[response(status = 403, description = "FORBIDDEN")]
    Forbidden,
}

/// 404: no such resource in this environment.
#[derive(Debug, utoipa::IntoResponses)]
#[response(status = 404, description = "NOT_FOUND")]
pub struct NotFound;

/// 409: the change conflicts with the resource's state or with another resource.
#[derive(Debug, utoipa::IntoResponses)]
#[response(
    status = 409,
    description = "Conflict: IN_USE, DUPLICATE, INVALID_TRANSITION, LICENSE_NOT_EDITABLE or LICENSE_HAS_ACTIVATIONS"
)]
pub struct Conflict;

/// 422: a field's value is refused.
#[derive(Debug, utoipa::IntoResponses)]
#[response(
    status = 422,
    description = "INVALID_FIELD, IMMUTABLE_FIELD or WEAK_KEY_FORMAT (the error names the field)"
)]
pub struct Invalid;

/// 400: the request is malformed (a query parameter, a body that is not the JSON asked for).
#[derive(Debug, utoipa::IntoResponses)]
#[response(status = 400, description = "INVALID_REQUEST")]
pub struct BadRequest;
