//! Per-environment administration records: settings, admin tokens (stored as SHA-256 digests),
//! lease signing keys (private half sealed under the master key) and webhook endpoints.

use diesel::prelude::*;
use license_core::{PublicKey, SigningKey};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::{self, Actor, Target};
use crate::catalog::{details, unique};
use crate::db::DbConn;
use crate::error::{StoreError, StoreResult};
use crate::model::*;
use crate::rows::{DeliveryRow, SettingRow, SigningKeyRow, TokenRow, WebhookRow};
use crate::schema::{admin_tokens, settings, signing_keys, webhook_deliveries, webhook_endpoints};
use crate::{Page, Store, validate};

/// Abuse detection rules (SPEC §9); off while both thresholds are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AbuseRules {
    /// Suspend after more than this many distinct fingerprints refused with `LIMIT_EXCEEDED`...
    pub max_refused_fingerprints: Option<u32>,
    /// ...within this many minutes.
    pub refused_window_minutes: Option<u32>,
    /// Suspend after more than this many distinct client IPs validate one license in an hour.
    pub max_ips_per_hour: Option<u32>,
}

/// The settings of one environment (SPEC §3), with their defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub grace_period_days: u32,
    pub offline_file_ttl_seconds: u32,
    pub audit_retention_days: u32,
    pub abuse: AbuseRules,
    pub reveal_requires_reauth: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            grace_period_days: 0,
            offline_file_ttl_seconds: 86_400,
            audit_retention_days: 365,
            abuse: AbuseRules::default(),
            reveal_requires_reauth: false,
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
        Ok(())
    }

    /// The grace period as a duration.
    pub fn grace(&self) -> time::Duration {
        time::Duration::days(i64::from(self.grace_period_days))
    }
}

const SETTINGS_ROW: &str = "settings";

/// An admin token's role (SPEC §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Manager,
    Support,
    Viewer,
}

impl Role {
    /// Wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Manager => "manager",
            Self::Support => "support",
            Self::Viewer => "viewer",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Admin, Self::Manager, Self::Support, Self::Viewer]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// An admin token as listed (never its secret).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Token {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
    /// The first characters of the secret, to tell tokens apart.
    pub prefix: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
}

impl TryFrom<TokenRow> for Token {
    type Error = StoreError;
    fn try_from(r: TokenRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: parse_id(&r.id)?,
            role: Role::parse(&r.role)
                .ok_or_else(|| StoreError::corrupt(format!("role {:?}", r.role)))?,
            name: r.name,
            prefix: r.token_prefix,
            created_at: from_db(r.created_at),
            last_used_at: r.last_used_at.map(from_db),
        })
    }
}

/// A token secret: `ks_` and 32 random bytes as hex (256 bits). Shown once.
pub fn new_token_secret(rng: &mut impl RngCore) -> String {
    let mut b = [0u8; 32];
    rng.fill_bytes(&mut b);
    let mut s = String::with_capacity(67);
    s.push_str("ks_");
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    s
}

fn token_digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// A signing key as published at `GET /keys`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedKey {
    pub key: PublicKey,
    /// `active` or `retired`.
    pub status: String,
}

/// A webhook endpoint (its secret is never listed).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Webhook {
    pub id: Uuid,
    pub url: String,
    pub events: Vec<String>,
    pub enabled: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl TryFrom<WebhookRow> for Webhook {
    type Error = StoreError;
    fn try_from(r: WebhookRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: parse_id(&r.id)?,
            events: serde_json::from_str(&r.events).map_err(StoreError::corrupt)?,
            url: r.url,
            enabled: r.enabled,
            created_at: from_db(r.created_at),
            updated_at: from_db(r.updated_at),
        })
    }
}

/// One event's delivery to one endpoint (attempted by the worker).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivery {
    pub id: Uuid,
    pub endpoint_id: Uuid,
    pub event_id: Uuid,
    pub status: String,
    pub attempts: i32,
    #[serde(with = "time::serde::rfc3339")]
    pub next_attempt_at: OffsetDateTime,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl TryFrom<DeliveryRow> for Delivery {
    type Error = StoreError;
    fn try_from(r: DeliveryRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: parse_id(&r.id)?,
            endpoint_id: parse_id(&r.endpoint_id)?,
            event_id: parse_id(&r.event_id)?,
            status: r.status,
            attempts: r.attempts,
            next_attempt_at: from_db(r.next_attempt_at),
            last_status_code: r.last_status_code,
            last_error: r.last_error,
            created_at: from_db(r.created_at),
            updated_at: from_db(r.updated_at),
        })
    }
}

/// The event types a webhook may subscribe to (SPEC §3).
pub const EVENT_TYPES: [&str; 14] = [
    "license.created",
    "license.assigned",
    "license.activated",
    "license.suspended",
    "license.unsuspended",
    "license.inactivated",
    "license.reactivated",
    "license.expiring_soon",
    "license.expired",
    "license.revoked",
    "license.reminted",
    "license.deleted",
    "activation.created",
    "activation.deactivated",
];

fn check_webhook(url: &str, events: &[String]) -> StoreResult<()> {
    if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() > 2048 {
        return Err(StoreError::invalid(
            "url",
            "must be an http:// or https:// URL of at most 2048 characters",
        ));
    }
    if let Some(bad) = events
        .iter()
        .find(|e| *e != "*" && !EVENT_TYPES.contains(&e.as_str()))
    {
        return Err(StoreError::invalid(
            "events",
            format!("unknown event type {bad:?}"),
        ));
    }
    Ok(())
}

fn load_signing_rows(c: &mut DbConn) -> StoreResult<Vec<SigningKeyRow>> {
    Ok(signing_keys::table
        .select(SigningKeyRow::as_select())
        .order(signing_keys::created_at.asc())
        .load(c)?)
}

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
        self.conn()?.write(|c| {
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

    /// Creates an admin token; returns it with its secret, which is not kept.
    pub fn create_token(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        name: &str,
        role: Role,
    ) -> StoreResult<(Token, String)> {
        let secret = new_token_secret(&mut rand::rng());
        let token = self.insert_token(actor, now, name, role, &secret)?;
        Ok((token, secret))
    }

    fn insert_token(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        name: &str,
        role: Role,
        secret: &str,
    ) -> StoreResult<Token> {
        let name = validate::name("name", name)?;
        let row = TokenRow {
            id: new_id(),
            name,
            role: role.as_str().into(),
            token_digest: token_digest(secret),
            token_prefix: secret.chars().take(8).collect(),
            created_at: to_db(now),
            last_used_at: None,
        };
        self.conn()?.write(|c| {
            diesel::insert_into(admin_tokens::table)
                .values(&row)
                .execute(c)
                .map_err(unique("name"))?;
            let target = Target {
                kind: "token",
                id: &row.id,
                key_hint: None,
            };
            audit::record(
                c,
                now,
                actor,
                "token.created",
                target,
                details(json!({"name": row.name, "role": row.role})),
            )?;
            Token::try_from(row.clone())
        })
    }

    /// Installs `secret` as an admin token named `bootstrap` unless an admin token exists
    /// (`KEYSMITH_ADMIN_TOKEN`). Returns whether it did.
    pub fn bootstrap_admin_token(&self, now: OffsetDateTime, secret: &str) -> StoreResult<bool> {
        let admins: i64 = admin_tokens::table
            .filter(admin_tokens::role.eq(Role::Admin.as_str()))
            .count()
            .get_result(&mut *self.conn()?)?;
        if admins > 0 {
            return Ok(false);
        }
        self.insert_token(
            &Actor::system("startup"),
            now,
            "bootstrap",
            Role::Admin,
            secret,
        )?;
        Ok(true)
    }

    /// The token a secret belongs to, by digest index.
    pub fn authenticate(&self, secret: &str) -> StoreResult<Option<Token>> {
        let row: Option<TokenRow> = admin_tokens::table
            .filter(admin_tokens::token_digest.eq(token_digest(secret)))
            .select(TokenRow::as_select())
            .first(&mut *self.conn()?)
            .optional()?;
        row.map(Token::try_from).transpose()
    }

    /// Every token.
    pub fn tokens(&self) -> StoreResult<Vec<Token>> {
        let rows: Vec<TokenRow> = admin_tokens::table
            .select(TokenRow::as_select())
            .order(admin_tokens::name.asc())
            .load(&mut *self.conn()?)?;
        rows.into_iter().map(Token::try_from).collect()
    }

    /// Deletes a token.
    pub fn delete_token(&self, actor: &Actor, now: OffsetDateTime, id: Uuid) -> StoreResult<()> {
        let id = id.to_string();
        self.conn()?.write(|c| {
            let n = diesel::delete(admin_tokens::table.find(&id)).execute(c)?;
            if n == 0 {
                return Err(StoreError::NotFound { entity: "token" });
            }
            let target = Target {
                kind: "token",
                id: &id,
                key_hint: None,
            };
            audit::record(c, now, actor, "token.deleted", target, JsonObject::new())
        })
    }

    /// Creates the environment's first signing key if it has none. Returns whether it did.
    pub fn ensure_signing_key(&self, now: OffsetDateTime) -> StoreResult<bool> {
        self.conn()?.write(|c| {
            let active: i64 = signing_keys::table
                .filter(signing_keys::status.eq("active"))
                .count()
                .get_result(c)?;
            if active > 0 {
                return Ok(false);
            }
            self.insert_signing_key(c, now)?;
            Ok(true)
        })
    }

    fn insert_signing_key(&self, c: &mut DbConn, now: OffsetDateTime) -> StoreResult<String> {
        let mut rng = rand::rng();
        let key = SigningKey::generate(&mut rng);
        let row = SigningKeyRow {
            kid: key.kid().to_owned(),
            public_key: key.public_key().x.to_vec(),
            private_sealed: self
                .sealer()
                .seal(key.expose_seed(), key.kid().as_bytes(), &mut rng),
            status: "active".into(),
            created_at: to_db(now),
            retired_at: None,
        };
        diesel::insert_into(signing_keys::table)
            .values(&row)
            .execute(c)?;
        let target = Target {
            kind: "signing_key",
            id: &row.kid,
            key_hint: None,
        };
        audit::record(
            c,
            now,
            &Actor::system("keys"),
            "signing_key.created",
            target,
            JsonObject::new(),
        )?;
        Ok(row.kid)
    }

    /// Adds a new active signing key and retires the old ones (still published, still verify).
    pub fn rotate_signing_key(&self, now: OffsetDateTime) -> StoreResult<String> {
        self.conn()?.write(|c| {
            diesel::update(signing_keys::table.filter(signing_keys::status.eq("active")))
                .set((
                    signing_keys::status.eq("retired"),
                    signing_keys::retired_at.eq(Some(to_db(now))),
                ))
                .execute(c)?;
            self.insert_signing_key(c, now)
        })
    }

    /// The active signing key, opened with the master key.
    pub fn active_signing_key(&self) -> StoreResult<SigningKey> {
        let rows = load_signing_rows(&mut *self.conn()?)?;
        let row = rows
            .into_iter()
            .rev()
            .find(|r| r.status == "active")
            .ok_or(StoreError::NotFound {
                entity: "active signing key",
            })?;
        let seed = self
            .sealer()
            .open(&row.private_sealed, row.kid.as_bytes())
            .map_err(|_| StoreError::corrupt("signing key does not open under this master key"))?;
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| StoreError::corrupt("signing key seed length"))?;
        SigningKey::from_seed(seed).map_err(StoreError::corrupt)
    }

    /// Every signing key's public half, oldest first.
    pub fn published_keys(&self) -> StoreResult<Vec<PublishedKey>> {
        load_signing_rows(&mut *self.conn()?)?
            .into_iter()
            .map(|r| {
                let x: [u8; 32] = r
                    .public_key
                    .try_into()
                    .map_err(|_| StoreError::corrupt("public key length"))?;
                Ok(PublishedKey {
                    key: PublicKey { kid: r.kid, x },
                    status: r.status,
                })
            })
            .collect()
    }

    /// Creates a webhook endpoint; returns it with its signing secret, shown once.
    pub fn create_webhook(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        url: &str,
        events: Vec<String>,
    ) -> StoreResult<(Webhook, String)> {
        check_webhook(url, &events)?;
        let mut rng = rand::rng();
        let secret = new_token_secret(&mut rng).replacen("ks_", "whsec_", 1);
        let id = new_id();
        let row = WebhookRow {
            secret_sealed: self
                .sealer()
                .seal(secret.as_bytes(), id.as_bytes(), &mut rng),
            id,
            url: url.to_owned(),
            events: serde_json::to_string(&events).map_err(StoreError::corrupt)?,
            enabled: true,
            created_at: to_db(now),
            updated_at: to_db(now),
        };
        self.conn()?.write(|c| {
            diesel::insert_into(webhook_endpoints::table)
                .values(&row)
                .execute(c)?;
            let target = Target {
                kind: "webhook",
                id: &row.id,
                key_hint: None,
            };
            audit::record(
                c,
                now,
                actor,
                "webhook.created",
                target,
                details(json!({"url": row.url, "events": events})),
            )?;
            Ok((Webhook::try_from(row.clone())?, secret))
        })
    }

    /// Every webhook endpoint.
    pub fn webhooks(&self, page: Page) -> StoreResult<(Vec<Webhook>, i64)> {
        self.conn()?.read(|c| {
            let total = webhook_endpoints::table.count().get_result(c)?;
            let rows: Vec<WebhookRow> = webhook_endpoints::table
                .select(WebhookRow::as_select())
                .order(webhook_endpoints::id.asc())
                .limit(page.limit)
                .offset(page.offset)
                .load(c)?;
            let items = rows
                .into_iter()
                .map(Webhook::try_from)
                .collect::<StoreResult<_>>()?;
            Ok((items, total))
        })
    }

    /// One webhook endpoint.
    pub fn webhook(&self, id: Uuid) -> StoreResult<Webhook> {
        let row: WebhookRow = webhook_endpoints::table
            .find(id.to_string())
            .select(WebhookRow::as_select())
            .first(&mut *self.conn()?)
            .optional()?
            .ok_or(StoreError::NotFound { entity: "webhook" })?;
        Webhook::try_from(row)
    }

    /// An endpoint's deliveries, newest first.
    pub fn webhook_deliveries(&self, id: Uuid, page: Page) -> StoreResult<(Vec<Delivery>, i64)> {
        self.webhook(id)?;
        let endpoint = id.to_string();
        self.conn()?.read(|c| {
            let q = || {
                webhook_deliveries::table
                    .filter(webhook_deliveries::endpoint_id.eq(endpoint.clone()))
            };
            let total = q().count().get_result(c)?;
            let rows: Vec<DeliveryRow> = q()
                .select(DeliveryRow::as_select())
                .order(webhook_deliveries::id.desc())
                .limit(page.limit)
                .offset(page.offset)
                .load(c)?;
            let items = rows
                .into_iter()
                .map(Delivery::try_from)
                .collect::<StoreResult<_>>()?;
            Ok((items, total))
        })
    }

    /// Changes a webhook's URL, event filter or enabled flag.
    pub fn update_webhook(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        id: Uuid,
        url: Option<String>,
        events: Option<Vec<String>>,
        enabled: Option<bool>,
    ) -> StoreResult<Webhook> {
        let id = id.to_string();
        self.conn()?.write(|c| {
            let mut row: WebhookRow = webhook_endpoints::table
                .find(&id)
                .select(WebhookRow::as_select())
                .first(c)
                .optional()?
                .ok_or(StoreError::NotFound { entity: "webhook" })?;
            let before = Webhook::try_from(row.clone())?;
            if let Some(u) = url {
                row.url = u;
            }
            if let Some(e) = events {
                row.events = serde_json::to_string(&e).map_err(StoreError::corrupt)?;
            }
            if let Some(en) = enabled {
                row.enabled = en;
            }
            let after = Webhook::try_from(row.clone())?;
            check_webhook(&after.url, &after.events)?;
            diesel::update(webhook_endpoints::table.find(&id))
                .set((
                    webhook_endpoints::url.eq(&row.url),
                    webhook_endpoints::events.eq(&row.events),
                    webhook_endpoints::enabled.eq(row.enabled),
                    webhook_endpoints::updated_at.eq(to_db(now)),
                ))
                .execute(c)?;
            let target = Target {
                kind: "webhook",
                id: &id,
                key_hint: None,
            };
            audit::record(
                c,
                now,
                actor,
                "webhook.updated",
                target,
                details(json!({"before": before, "after": after})),
            )?;
            Ok(after)
        })
    }

    /// Deletes a webhook endpoint and its deliveries.
    pub fn delete_webhook(&self, actor: &Actor, now: OffsetDateTime, id: Uuid) -> StoreResult<()> {
        let id = id.to_string();
        self.conn()?.write(|c| {
            let n = diesel::delete(webhook_endpoints::table.find(&id)).execute(c)?;
            if n == 0 {
                return Err(StoreError::NotFound { entity: "webhook" });
            }
            let target = Target {
                kind: "webhook",
                id: &id,
                key_hint: None,
            };
            audit::record(c, now, actor, "webhook.deleted", target, JsonObject::new())
        })
    }
}
