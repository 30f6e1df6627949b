//! The admin REST API (SPEC §8) under `/v1/{env}`: one module per resource, each with its
//! handlers, request types and `configure`; this file only joins them. Every handler states the
//! permission it needs (`Caller::require`) and runs its store call on the blocking pool ([`run`]).

use actix_web::web;
use license_store::{Actor, Store, StoreResult};
use time::OffsetDateTime;

use crate::auth::Caller;
use crate::error::ApiError;

pub mod activations;
pub mod audit;
pub mod csv;
pub mod customers;
pub mod export;
pub mod generators;
pub mod import;
pub mod jobs;
pub mod license_actions;
pub mod licenses;
pub mod links;
pub mod mail;
pub mod operators;
pub mod preview;
pub mod products;
pub mod query;
pub mod sessions;
pub mod settings;
pub mod stats;
pub mod tokens;
pub mod webhooks;

/// Runs a store call for `caller` on the blocking pool, with the caller as actor and the time now.
pub(crate) async fn run<T: Send + 'static>(
    caller: &Caller,
    f: impl FnOnce(&Store, &Actor, OffsetDateTime) -> StoreResult<T> + Send + 'static,
) -> Result<T, ApiError> {
    let env = caller.env.clone();
    let actor = caller.actor.clone();
    let now = OffsetDateTime::now_utc();
    Ok(web::block(move || f(env.store(), &actor, now)).await??)
}

/// Routes of the admin service: `/v1/auth` and `/v1/operators` (so no environment may be called
/// `auth` or `operators`), then everything under `/v1/{env}`. Literal paths
/// (`/licenses/export.csv`, `/licenses/import`, `/jobs/{id}/keys.csv`) come before
/// `/licenses/{id}` so they win.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/v1/auth")
            .configure(sessions::configure)
            .configure(links::configure),
    );
    operators::configure(cfg);
    cfg.service(
        web::scope("/v1/{env}")
            .configure(export::configure)
            .configure(import::configure)
            .configure(jobs::configure)
            .configure(products::configure)
            .configure(generators::configure)
            .configure(customers::configure)
            .configure(mail::configure)
            .configure(licenses::configure)
            .configure(license_actions::configure)
            .configure(activations::configure)
            .configure(preview::configure)
            .configure(tokens::configure)
            .configure(settings::configure)
            .configure(audit::configure)
            .configure(stats::configure)
            .configure(webhooks::configure),
    );
}
