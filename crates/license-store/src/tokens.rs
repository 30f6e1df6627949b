//! Admin API tokens (SPEC §8): roles, secrets (shown once, stored only as SHA-256 digests and
//! found by digest index), the bootstrap token from the environment, listing and deletion.

use diesel::prelude::*;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::{self, Actor, Target, details};
use crate::db::DbConn;
use crate::error::{StoreError, StoreResult, unique};
use crate::model::*;
use crate::rows::{SettingRow, TokenRow};
use crate::schema::{admin_tokens, settings};
use crate::{Store, validate};

/// An admin token's role (SPEC §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// The settings row that records an environment's first start (when the bootstrap token was
/// decided).
const BOOTSTRAP_MARKER: &str = "bootstrap";

fn token_row(now: OffsetDateTime, name: &str, role: Role, secret: &str) -> StoreResult<TokenRow> {
    Ok(TokenRow {
        id: new_id(),
        name: validate::token_name(name)?,
        role: role.as_str().into(),
        token_digest: token_digest(secret),
        token_prefix: secret.chars().take(8).collect(),
        created_at: to_db(now),
        last_used_at: None,
    })
}

fn insert_token_row(
    c: &mut DbConn,
    actor: &Actor,
    now: OffsetDateTime,
    row: &TokenRow,
) -> StoreResult<Token> {
    diesel::insert_into(admin_tokens::table)
        .values(row)
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
}

/// A token's `last_used_at` is written at most this often.
pub const LAST_USED_EVERY: time::Duration = time::Duration::minutes(1);

impl Store {
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
        let row = token_row(now, name, role, secret)?;
        self.write(|c| insert_token_row(c, actor, now, &row))
    }

    /// The first start of an environment (SPEC §2 `KEYSMITH_ADMIN_TOKEN`): records, once, that
    /// the environment has started, and in that same transaction installs `secret` (when given)
    /// as an admin token named `bootstrap` unless an admin token exists. Every later start does
    /// nothing, so a revoked bootstrap token never comes back and a changed
    /// `KEYSMITH_ADMIN_TOKEN` never adds a second one. Returns whether a token was installed.
    pub fn bootstrap_admin_token(
        &self,
        now: OffsetDateTime,
        secret: Option<&str>,
    ) -> StoreResult<bool> {
        let row = secret
            .map(|s| token_row(now, "bootstrap", Role::Admin, s))
            .transpose()?;
        let marker = SettingRow {
            name: BOOTSTRAP_MARKER.into(),
            value: json!({"at": now.unix_timestamp()}).to_string(),
            updated_at: to_db(now),
        };
        let result = self.write(|c| {
            diesel::insert_into(settings::table)
                .values(&marker)
                .execute(c)
                .map_err(unique("bootstrap"))?;
            let Some(row) = &row else { return Ok(false) };
            let admins: i64 = admin_tokens::table
                .filter(admin_tokens::role.eq(Role::Admin.as_str()))
                .count()
                .get_result(c)?;
            if admins > 0 {
                return Ok(false);
            }
            insert_token_row(c, &Actor::system("startup"), now, row)?;
            Ok(true)
        });
        match result {
            // An earlier start (or another instance starting at once) got there first.
            Err(StoreError::Duplicate { field: "bootstrap" }) => Ok(false),
            r => r,
        }
    }

    /// The token a secret belongs to, by digest index, used at `now`: its `last_used_at` is
    /// written at most once a minute (the conditional update makes concurrent requests coalesce).
    pub fn authenticate(&self, secret: &str, now: OffsetDateTime) -> StoreResult<Option<Token>> {
        let c = &mut *self.conn()?;
        let row: Option<TokenRow> = admin_tokens::table
            .filter(admin_tokens::token_digest.eq(token_digest(secret)))
            .select(TokenRow::as_select())
            .first(c)
            .optional()?;
        let Some(row) = row else { return Ok(None) };
        let stale = to_db(now - LAST_USED_EVERY);
        if row.last_used_at.is_none_or(|t| t <= stale) {
            diesel::update(admin_tokens::table.find(&row.id))
                .filter(
                    admin_tokens::last_used_at
                        .is_null()
                        .or(admin_tokens::last_used_at.le(stale)),
                )
                .set(admin_tokens::last_used_at.eq(Some(to_db(now))))
                .execute(c)?;
        }
        Token::try_from(row).map(Some)
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
        self.write(|c| {
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
}
