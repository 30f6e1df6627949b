//! What customer software (and a customer) may see of a license: the public views of SPEC §7
//! (never customer data, never admin metadata) and the offline validation file of SPEC §6.
//! Shared by the validation API and the admin preview.

use license_store::model::{
    Activation, ActivationStatus, JsonObject, License, Product, ProductSummary,
};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// A product as customer software sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicProduct {
    pub id: Uuid,
    pub name: String,
    pub code: String,
}

/// A license as customer software sees it (no customer data, no admin metadata).
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicLicense {
    pub id: Uuid,
    pub key_display: String,
    pub product: PublicProduct,
    #[schema(value_type = String, example = "active")]
    pub status: license_core::LicenseStatus,
    /// `-1` is unlimited.
    pub activation_limit: i32,
    pub activations_active: i32,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<OffsetDateTime>,
    #[schema(value_type = Object)]
    pub feature_flags: JsonObject,
}

/// An activation as customer software sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicActivation {
    pub id: Uuid,
    pub fingerprint: String,
    pub name: Option<String>,
    pub platform: Option<String>,
    #[schema(value_type = String, example = "active")]
    pub status: ActivationStatus,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub first_seen_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub last_validated_at: OffsetDateTime,
}

impl From<&Product> for PublicProduct {
    fn from(p: &Product) -> Self {
        Self {
            id: p.id,
            name: p.name.clone(),
            code: p.code.clone(),
        }
    }
}

impl From<&ProductSummary> for PublicProduct {
    fn from(p: &ProductSummary) -> Self {
        Self {
            id: p.id,
            name: p.name.clone(),
            code: p.code.clone(),
        }
    }
}

/// The public view of license `l` of `product`.
pub fn license(l: &License, product: impl Into<PublicProduct>) -> PublicLicense {
    PublicLicense {
        id: l.id,
        key_display: l.key_display.clone(),
        product: product.into(),
        status: l.status,
        activation_limit: l.activation_limit,
        activations_active: l.activations_active,
        expires_at: l.expires_at,
        feature_flags: l.feature_flags.clone(),
    }
}

/// The public view of an activation.
pub fn activation(a: &Activation) -> PublicActivation {
    PublicActivation {
        id: a.id,
        fingerprint: a.fingerprint.clone(),
        name: a.name.clone(),
        platform: a.platform.clone(),
        status: a.status,
        first_seen_at: a.first_seen_at,
        last_validated_at: a.last_validated_at,
    }
}

/// An offline validation file (SPEC §6): the public view and a lease for air-gapped machines.
#[derive(Debug, Serialize, ToSchema)]
pub struct OfflineFile {
    /// Always `keysmith.license-file.v1`.
    pub format: &'static str,
    /// The license as customer software sees it.
    pub license: PublicLicense,
    /// A lease bound to no fingerprint, expiring after the `offline_file_ttl_seconds` setting.
    pub lease: String,
}

impl OfflineFile {
    /// The file's format tag.
    pub const FORMAT: &'static str = "keysmith.license-file.v1";
}

/// An offline file for license `view` (blocking: reads settings, signs, audits), bound to
/// `fingerprint` when given; `Ok(Err(code))` when the license would not validate now (an
/// offline file is a promise that it is usable), with the validation code it would get.
/// Handing one out is audited with the device it is bound to.
pub fn offline_file(
    env: &crate::environments::Environment,
    view: &license_store::model::LicenseView,
    fingerprint: Option<&str>,
    actor: &license_store::Actor,
    now: OffsetDateTime,
) -> Result<Result<OfflineFile, &'static str>, crate::error::ApiError> {
    let settings = env.settings()?;
    let l = &view.license;
    let snapshot = license_core::LicenseSnapshot {
        status: l.status,
        product_id: view.product.id,
        product_code: view.product.code.clone(),
        expires_at: l.expires_at,
        activation_limit: l.limit(),
    };
    let decision = license_core::decide_validation(
        &snapshot,
        None,
        license_core::Instance::NotGiven,
        now,
        settings.grace(),
    );
    if !decision.outcome.is_success() {
        return Ok(Err(decision.outcome.code()));
    }
    let ttl = time::Duration::seconds(i64::from(settings.offline_file_ttl_seconds));
    let lease = env.issue_lease(l, fingerprint, None, ttl, settings.grace(), now)?;
    env.store()
        .record_offline_file(actor, now, l.id, fingerprint)?;
    Ok(Ok(OfflineFile {
        format: OfflineFile::FORMAT,
        license: license(l, &view.product),
        lease,
    }))
}
