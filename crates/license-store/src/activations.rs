//! Activation history as operators read it: one license's activations, and every activation of
//! the environment with filters (the console's Activations page). Activating and deactivating
//! live in `activation` (the customer-facing use cases).

use diesel::prelude::*;
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{StoreError, StoreResult};
use crate::license_rows::load_license;
use license_core::LicenseStatus;

use crate::model::{Activation, ActivationStatus, parse_id, to_db};
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

/// A place in a license's activation history (newest first): just after the activation that
/// ended the previous page. Written as `<first_seen_at in unix microseconds>_<id>`; clients pass
/// back the `next_cursor` they were given and need not read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActivationCursor {
    pub first_seen_at: OffsetDateTime,
    pub id: Uuid,
}

impl ActivationCursor {
    /// The cursor `text` spells, if it is one.
    pub fn parse(text: &str) -> Option<Self> {
        let (micros, id) = text.split_once('_')?;
        let micros: i128 = micros.parse().ok()?;
        let first_seen_at =
            OffsetDateTime::from_unix_timestamp_nanos(micros.checked_mul(1000)?).ok()?;
        Some(Self {
            first_seen_at,
            id: Uuid::parse_str(id).ok()?,
        })
    }

    fn after(a: &Activation) -> Self {
        Self {
            first_seen_at: a.first_seen_at,
            id: a.id,
        }
    }
}

impl std::fmt::Display for ActivationCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}_{}",
            self.first_seen_at.unix_timestamp_nanos() / 1000,
            self.id
        )
    }
}

/// One page of a license's activation history.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActivationPage {
    /// Newest first.
    pub items: Vec<Activation>,
    /// Every activation the license ever had.
    pub total: i64,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl Store {
    /// One page of a license's activations, newest first: at most `limit` (1..=500) after
    /// `cursor`. Keyset paging over the `(license_id, first_seen_at)` index, so every page costs
    /// the same however long the history.
    pub fn license_activations(
        &self,
        id: Uuid,
        limit: i64,
        cursor: Option<ActivationCursor>,
    ) -> StoreResult<ActivationPage> {
        Page::new(limit, 0)?;
        let id = id.to_string();
        self.conn()?.read(|c| {
            load_license(c, &id)?;
            let total: i64 = activations::table
                .filter(activations::license_id.eq(&id))
                .count()
                .get_result(c)?;
            let mut q = activations::table
                .filter(activations::license_id.eq(&id))
                .into_boxed();
            if let Some(after) = cursor {
                let t = to_db(after.first_seen_at);
                q = q.filter(
                    activations::first_seen_at
                        .lt(t)
                        .or(activations::first_seen_at
                            .eq(t)
                            .and(activations::id.lt(after.id.to_string()))),
                );
            }
            let rows: Vec<ActivationRow> = q
                .select(ActivationRow::as_select())
                .order((activations::first_seen_at.desc(), activations::id.desc()))
                .limit(limit + 1)
                .load(c)?;
            let mut items = rows
                .into_iter()
                .map(Activation::try_from)
                .collect::<StoreResult<Vec<_>>>()?;
            let more = items.len() > usize::try_from(limit).unwrap_or(usize::MAX);
            items.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            let next_cursor = more
                .then(|| items.last().map(|a| ActivationCursor::after(a).to_string()))
                .flatten();
            Ok(ActivationPage {
                items,
                total,
                next_cursor,
            })
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
