//! Lease signing keys (Ed25519): the environment's first key, rotation (old keys retire but stay
//! published, so leases they signed still verify), the active key opened from its form sealed
//! under the master key, and the public halves for `GET /keys`.

use diesel::prelude::*;
use license_core::{PublicKey, SigningKey};
use time::OffsetDateTime;

use crate::Store;
use crate::audit::{self, Actor, Target};
use crate::db::DbConn;
use crate::error::{StoreError, StoreResult};
use crate::model::*;
use crate::rows::SigningKeyRow;
use crate::schema::signing_keys;

/// A signing key as published at `GET /keys`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedKey {
    pub key: PublicKey,
    /// `active` or `retired`.
    pub status: String,
}

fn load_signing_rows(c: &mut DbConn) -> StoreResult<Vec<SigningKeyRow>> {
    Ok(signing_keys::table
        .select(SigningKeyRow::as_select())
        .order(signing_keys::created_at.asc())
        .load(c)?)
}

impl Store {
    /// Creates the environment's first signing key if it has none. Returns whether it did.
    pub fn ensure_signing_key(&self, now: OffsetDateTime) -> StoreResult<bool> {
        self.write(|c| {
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
        self.write(|c| {
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
}
