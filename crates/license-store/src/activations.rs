//! Activation history as operators read it: one license's activations, and every activation of
//! the environment with filters (the console's Activations page). Activating and deactivating
//! live in `activation` (the customer-facing use cases).

use diesel::prelude::*;
use serde::Serialize;
use uuid::Uuid;

use crate::error::{StoreError, StoreResult};
use crate::license_rows::load_license;
use license_core::LicenseStatus;

use crate::model::{Activation, ActivationStatus, parse_id};
use crate::rows::ActivationRow;
use crate::schema::{activations, licenses};
use crate::{Page, Store};

/// Filters of `GET /activations`; each set one narrows the list.
#[derive(Debug, Clone, Default)]
pub struct ActivationFilter {
    /// Activations of this license.
    pub license: Option<Uuid>,
    /// This exact fingerprint (the same device across licenses).
    pub fingerprint: Option<String>,
    /// Active or deactivated.
    pub status: Option<ActivationStatus>,
}

/// The license an activation belongs to, as the activation list shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LicenseRef {
    pub id: Uuid,
    pub key_display: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub status: LicenseStatus,
}

/// An activation with its license.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActivationView {
    #[serde(flatten)]
    pub activation: Activation,
    pub license: LicenseRef,
}

impl Store {
    /// A license's activations, newest first.
    pub fn license_activations(&self, id: Uuid) -> StoreResult<Vec<Activation>> {
        let id = id.to_string();
        self.conn()?.read(|c| {
            load_license(c, &id)?;
            let rows: Vec<ActivationRow> = activations::table
                .filter(activations::license_id.eq(&id))
                .select(ActivationRow::as_select())
                .order((activations::first_seen_at.desc(), activations::id.desc()))
                .load(c)?;
            rows.into_iter().map(Activation::try_from).collect()
        })
    }

    /// Activations across licenses, newest first, with the total that match.
    pub fn activations(
        &self,
        filter: &ActivationFilter,
        page: Page,
    ) -> StoreResult<(Vec<ActivationView>, i64)> {
        let query = || {
            let mut q = activations::table.inner_join(licenses::table).into_boxed();
            if let Some(l) = filter.license {
                q = q.filter(activations::license_id.eq(l.to_string()));
            }
            if let Some(f) = &filter.fingerprint {
                q = q.filter(activations::fingerprint.eq(f.clone()));
            }
            if let Some(s) = filter.status {
                q = q.filter(activations::status.eq(s.as_str()));
            }
            q
        };
        self.conn()?.read(|c| {
            let total = query().count().get_result(c)?;
            let rows: Vec<(ActivationRow, (String, String, String))> = query()
                .select((
                    ActivationRow::as_select(),
                    (licenses::id, licenses::key_display, licenses::status),
                ))
                .order((activations::first_seen_at.desc(), activations::id.desc()))
                .limit(page.limit)
                .offset(page.offset)
                .load(c)?;
            let items = rows
                .into_iter()
                .map(|(a, (id, key_display, status))| {
                    Ok(ActivationView {
                        activation: Activation::try_from(a)?,
                        license: LicenseRef {
                            id: parse_id(&id)?,
                            key_display,
                            status: LicenseStatus::parse(&status).ok_or_else(|| {
                                StoreError::corrupt(format!("license status {status:?}"))
                            })?,
                        },
                    })
                })
                .collect::<StoreResult<_>>()?;
            Ok((items, total))
        })
    }
}
