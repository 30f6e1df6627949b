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
use crate::error::{StoreError, StoreResult, unique};
use crate::model::*;
use crate::rows::TokenRow;
use crate::schema::admin_tokens;
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
        let name = validate::token_name(name)?;
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
}
