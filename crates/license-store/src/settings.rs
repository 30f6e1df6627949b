//! The settings of one environment (SPEC §3): grace period, offline-file TTL, audit retention,
//! abuse rules, re-authentication for reveal and the email settings, stored as one JSON row with
//! defaults.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

use crate::Store;
use crate::audit::{self, Actor, Target, details};
use crate::error::{StoreError, StoreResult};
use crate::mail_templates::MailTemplates;
use crate::model::to_db;
use crate::rows::SettingRow;
use crate::schema::settings;

/// Abuse detection rules (SPEC §9); each rule is off while its threshold is `None`. Thresholds
/// are 1..=[`MAX_ABUSE_THRESHOLD`] and windows 1..=[`MAX_ABUSE_WINDOW_MINUTES`] minutes, which
/// bounds what the detector remembers per license.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AbuseRules {
    /// Suspend after more than this many distinct fingerprints refused with `LIMIT_EXCEEDED`...
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000))]
    pub max_refused_fingerprints: Option<u32>,
    /// ...within this many minutes.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1440))]
    pub refused_window_minutes: Option<u32>,
    /// Suspend after more than this many distinct client IPs validate one license in an hour.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000))]
    pub max_ips_per_hour: Option<u32>,
    /// Suspend after more than this many activations and deactivations of one license through
    /// the validation API...
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000))]
    pub max_churn: Option<u32>,
    /// ...within this many minutes (default 60).
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1440))]
    pub churn_window_minutes: Option<u32>,
}

/// The largest abuse-rule threshold.
pub const MAX_ABUSE_THRESHOLD: u32 = 1000;
/// The longest abuse-rule window (a day).
pub const MAX_ABUSE_WINDOW_MINUTES: u32 = 1440;

impl AbuseRules {
    /// Checks every threshold and window; an error names the field (`abuse.max_churn`).
    pub fn validate(&self) -> StoreResult<()> {
        let thresholds = [
            (
                "abuse.max_refused_fingerprints",
                self.max_refused_fingerprints,
            ),
            ("abuse.max_ips_per_hour", self.max_ips_per_hour),
            ("abuse.max_churn", self.max_churn),
        ];
        for (field, v) in thresholds {
            if let Some(v) = v
                && !(1..=MAX_ABUSE_THRESHOLD).contains(&v)
            {
                return Err(StoreError::invalid(
                    field,
                    format!("must be 1..={MAX_ABUSE_THRESHOLD} (or null: rule off), got {v}"),
                ));
            }
        }
        let windows = [
            ("abuse.refused_window_minutes", self.refused_window_minutes),
            ("abuse.churn_window_minutes", self.churn_window_minutes),
        ];
        for (field, v) in windows {
            if let Some(v) = v
                && !(1..=MAX_ABUSE_WINDOW_MINUTES).contains(&v)
            {
                return Err(StoreError::invalid(
                    field,
                    format!(
                        "must be 1..={MAX_ABUSE_WINDOW_MINUTES} minutes (a day; null: 60), got {v}"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// The settings of one environment (SPEC §3), with their defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Settings {
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 30))]
    pub grace_period_days: u32,
    #[cfg_attr(feature = "openapi", schema(minimum = 60, maximum = 604800))]
    pub offline_file_ttl_seconds: u32,
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 36500))]
    pub audit_retention_days: u32,
    pub abuse: AbuseRules,
    pub reveal_requires_reauth: bool,
    /// Email a license's key to its customer when it is assigned (SPEC §14; needs SMTP).
    pub email_key_on_assign: bool,
    /// The email templates this environment overrides (SPEC §14).
    pub mail_templates: MailTemplates,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            grace_period_days: 0,
            offline_file_ttl_seconds: 86_400,
            audit_retention_days: 365,
            abuse: AbuseRules::default(),
            reveal_requires_reauth: false,
            email_key_on_assign: false,
            mail_templates: MailTemplates::default(),
        }
    }
}

impl Settings {
    /// Checks ranges; errors name the field.
    pub fn validate(&self) -> StoreResult<()> {
        if self.grace_period_days > 30 {
            return Err(StoreError::invalid(
                "grace_period_days",
                format!("must be 0..=30, got {}", self.grace_period_days),
            ));
        }
        if !(60..=604_800).contains(&self.offline_file_ttl_seconds) {
            return Err(StoreError::invalid(
                "offline_file_ttl_seconds",
                format!(
                    "must be 60..=604800 (7 days), got {}",
                    self.offline_file_ttl_seconds
                ),
            ));
        }
        if !(1..=36_500).contains(&self.audit_retention_days) {
            return Err(StoreError::invalid(
                "audit_retention_days",
                format!("must be 1..=36500, got {}", self.audit_retention_days),
            ));
        }
        self.abuse.validate()?;
        self.mail_templates.validate()
    }

    /// The grace period as a duration.
    pub fn grace(&self) -> time::Duration {
        time::Duration::days(i64::from(self.grace_period_days))
    }
}

const SETTINGS_ROW: &str = "settings";

impl Store {
    /// The environment's settings (defaults where never set).
    pub fn settings(&self) -> StoreResult<Settings> {
        let row: Option<SettingRow> = settings::table
            .find(SETTINGS_ROW)
            .select(SettingRow::as_select())
            .first(&mut *self.conn()?)
            .optional()?;
        match row {
            Some(r) => serde_json::from_str(&r.value)
                .map_err(|e| StoreError::corrupt(format!("settings: {e}"))),
            None => Ok(Settings::default()),
        }
    }

    /// Replaces the settings.
    pub fn put_settings(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        new: &Settings,
    ) -> StoreResult<Settings> {
        new.validate()?;
        let value = serde_json::to_string(new).map_err(StoreError::corrupt)?;
        let before = self.settings()?;
        self.write(|c| {
            let n = diesel::update(settings::table.find(SETTINGS_ROW))
                .set((
                    settings::value.eq(&value),
                    settings::updated_at.eq(to_db(now)),
                ))
                .execute(c)?;
            if n == 0 {
                let row = SettingRow {
                    name: SETTINGS_ROW.into(),
                    value: value.clone(),
                    updated_at: to_db(now),
                };
                diesel::insert_into(settings::table)
                    .values(&row)
                    .execute(c)?;
            }
            let target = Target {
                kind: "settings",
                id: SETTINGS_ROW,
                key_hint: None,
            };
            audit::record(
                c,
                now,
                actor,
                "settings.updated",
                target,
                details(json!({"before": before, "after": new})),
            )?;
            Ok(new.clone())
        })
    }
}
