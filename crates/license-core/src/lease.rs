//! Leases (SPEC §6): Ed25519-signed statements that a license was valid at `iat` and may be
//! trusted offline until `exp`, and their verification without any network.
//!
//! Wire form: `v1.<payload>.<signature>`; `payload` is base64url (no padding) of the JSON claims,
//! `signature` is base64url of the Ed25519 signature over the ASCII bytes `v1.<payload>`.

use rand::RngCore;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::b64;
use crate::state::LicenseStatus;

/// The version tag every lease starts with.
pub const VERSION: &str = "v1";

/// The longest a lease may be trusted offline: 7 days.
pub const MAX_TTL: Duration = Duration::days(7);

/// How far ahead of the verifier's clock `iat` may be before the lease is refused.
pub const MAX_CLOCK_SKEW: Duration = Duration::seconds(300);

/// The signed payload of a lease. Field names and order are the wire format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// Id of the signing key.
    pub kid: String,
    /// Environment the license lives in.
    pub env: String,
    /// License id.
    pub lid: Uuid,
    /// Product id.
    pub pid: Uuid,
    /// The fingerprint the lease is bound to, if any.
    pub fp: Option<String>,
    /// License status at `iat`.
    pub st: LicenseStatus,
    /// Entitlements: the license's feature flags (a JSON object).
    pub ent: serde_json::Map<String, serde_json::Value>,
    /// Issued at, unix seconds.
    pub iat: i64,
    /// Trusted until (exclusive), unix seconds.
    pub exp: i64,
    /// License expiry, unix seconds, or `None` for a lifetime license.
    pub lexp: Option<i64>,
    /// The client's nonce, echoed so a recorded answer cannot be replayed.
    pub nonce: Option<String>,
}

/// When a lease issued at `now` stops being trustworthy: `min(now + ttl, license expiry + grace)`,
/// with `ttl` capped at [`MAX_TTL`]. A lifetime license (`license_expires_at = None`) gets the TTL.
pub fn lease_expiry(
    now: OffsetDateTime,
    ttl: Duration,
    license_expires_at: Option<OffsetDateTime>,
    grace: Duration,
) -> OffsetDateTime {
    let by_ttl = now + ttl.clamp(Duration::ZERO, MAX_TTL);
    match license_expires_at {
        Some(e) => by_ttl.min(e + grace),
        None => by_ttl,
    }
}

/// An Ed25519 signing key of one environment.
pub struct SigningKey {
    kid: String,
    seed: [u8; 32],
    pair: Ed25519KeyPair,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// The signing key's seed was rejected by ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid Ed25519 seed")]
pub struct InvalidSeed;

/// A lease was about to be signed with claims naming another key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("claims name key {claims_kid:?} but the signer is {signer_kid:?}")]
pub struct KidMismatch {
    /// The kid in the claims.
    pub claims_kid: String,
    /// The signer's kid.
    pub signer_kid: String,
}

impl SigningKey {
    /// A new key from 32 random bytes of `rng`.
    pub fn generate(rng: &mut impl RngCore) -> Self {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        match Self::from_seed(seed) {
            Ok(k) => k,
            Err(InvalidSeed) => unreachable!("every 32-byte string is an Ed25519 seed"),
        }
    }

    /// Rebuilds a key from its 32-byte seed (as stored, encrypted, by the server).
    pub fn from_seed(seed: [u8; 32]) -> Result<Self, InvalidSeed> {
        let pair = Ed25519KeyPair::from_seed_unchecked(&seed).map_err(|_| InvalidSeed)?;
        let kid = kid_of(pair.public_key().as_ref());
        Ok(Self { kid, seed, pair })
    }

    /// The key id: base64url of the first 12 bytes of SHA-256 of the public key (16 characters),
    /// so the same key always has the same id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The secret seed, for encryption at rest. Never log it.
    pub fn expose_seed(&self) -> &[u8; 32] {
        &self.seed
    }

    /// The public half, for `GET /v1/{env}/keys` and for verifiers.
    pub fn public_key(&self) -> PublicKey {
        let mut x = [0u8; 32];
        x.copy_from_slice(self.pair.public_key().as_ref());
        PublicKey {
            kid: self.kid.clone(),
            x,
        }
    }

    /// Signs `claims` into a `v1.<payload>.<signature>` lease. `claims.kid` must be this key's id.
    pub fn sign(&self, claims: &Claims) -> Result<String, KidMismatch> {
        if claims.kid != self.kid {
            return Err(KidMismatch {
                claims_kid: claims.kid.clone(),
                signer_kid: self.kid.clone(),
            });
        }
        let json = match serde_json::to_vec(claims) {
            Ok(j) => j,
            Err(_) => unreachable!("claims hold only strings, numbers and JSON values"),
        };
        let mut token = String::with_capacity(4 + json.len() * 4 / 3 + 90);
        token.push_str(VERSION);
        token.push('.');
        token.push_str(&b64::encode(&json));
        let sig = self.pair.sign(token.as_bytes());
        token.push('.');
        token.push_str(&b64::encode(sig.as_ref()));
        Ok(token)
    }
}

fn kid_of(public: &[u8]) -> String {
    b64::encode(&Sha256::digest(public)[..12])
}

/// A published verification key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// Key id, as in the lease's `kid`.
    pub kid: String,
    /// The raw 32-byte Ed25519 public key.
    pub x: [u8; 32],
}

impl PublicKey {
    /// `x` as published: base64url without padding.
    pub fn x_b64(&self) -> String {
        b64::encode(&self.x)
    }

    /// Parses a published key; `None` unless `x` is base64url of exactly 32 bytes.
    pub fn from_b64(kid: &str, x: &str) -> Option<Self> {
        let x = b64::decode(x)?.try_into().ok()?;
        Some(Self {
            kid: kid.to_owned(),
            x,
        })
    }
}

/// What the verifier expects of a lease besides a good signature and time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expect<'a> {
    /// The fingerprint of this instance; the lease must be bound to it.
    pub fingerprint: Option<&'a str>,
    /// The environment the software is configured for.
    pub env: Option<&'a str>,
}

/// Why a lease is not to be trusted. Checks run in the order of the variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    /// Not `v1.<base64url>.<base64url>` of a JSON claims object and a 64-byte signature.
    #[error("lease is malformed")]
    Malformed,
    /// `kid` is not among the given public keys.
    #[error("lease is signed by an unknown key")]
    UnknownKey,
    /// The signature does not verify: the lease was altered or forged.
    #[error("lease signature does not verify")]
    BadSignature,
    /// The lease belongs to another environment.
    #[error("lease was issued for another environment")]
    EnvironmentMismatch,
    /// The lease is bound to another fingerprint (or to none).
    #[error("lease is bound to another fingerprint")]
    FingerprintMismatch,
    /// `iat` is more than 300 s ahead of `now`.
    #[error("lease is issued in the future")]
    IssuedInFuture,
    /// `now >= exp`.
    #[error("lease has expired")]
    Expired,
}

impl LeaseError {
    /// The name used in the test vectors (`"Malformed"`, `"UnknownKey"`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Malformed => "Malformed",
            Self::UnknownKey => "UnknownKey",
            Self::BadSignature => "BadSignature",
            Self::EnvironmentMismatch => "EnvironmentMismatch",
            Self::FingerprintMismatch => "FingerprintMismatch",
            Self::IssuedInFuture => "IssuedInFuture",
            Self::Expired => "Expired",
        }
    }
}

/// Verifies a lease offline: the signature against `keys` (active and retired alike), then the
/// expectations, then time. Returns the claims only if everything holds.
pub fn verify(
    token: &str,
    keys: &[PublicKey],
    now: OffsetDateTime,
    expect: Expect<'_>,
) -> Result<Claims, LeaseError> {
    let (signed, sig_b64) = token.rsplit_once('.').ok_or(LeaseError::Malformed)?;
    let payload_b64 = signed
        .strip_prefix(VERSION)
        .and_then(|rest| rest.strip_prefix('.'))
        .ok_or(LeaseError::Malformed)?;
    let payload = b64::decode(payload_b64).ok_or(LeaseError::Malformed)?;
    let sig = b64::decode(sig_b64).ok_or(LeaseError::Malformed)?;
    if sig.len() != 64 {
        return Err(LeaseError::Malformed);
    }
    let claims: Claims = serde_json::from_slice(&payload).map_err(|_| LeaseError::Malformed)?;
    let key = keys
        .iter()
        .find(|k| k.kid == claims.kid)
        .ok_or(LeaseError::UnknownKey)?;
    UnparsedPublicKey::new(&ED25519, &key.x)
        .verify(signed.as_bytes(), &sig)
        .map_err(|_| LeaseError::BadSignature)?;
    if expect.env.is_some_and(|env| env != claims.env) {
        return Err(LeaseError::EnvironmentMismatch);
    }
    if expect
        .fingerprint
        .is_some_and(|fp| claims.fp.as_deref() != Some(fp))
    {
        return Err(LeaseError::FingerprintMismatch);
    }
    let now = now.unix_timestamp();
    if claims.iat > now + MAX_CLOCK_SKEW.whole_seconds() {
        return Err(LeaseError::IssuedInFuture);
    }
    if now >= claims.exp {
        return Err(LeaseError::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{SeedableRng, rngs::StdRng};
    use time::macros::datetime;

    fn claims(key: &SigningKey) -> Claims {
        Claims {
            kid: key.kid().to_owned(),
            env: "production".into(),
            lid: Uuid::nil(),
            pid: Uuid::max(),
            fp: Some("host-1".into()),
            st: LicenseStatus::Active,
            ent: serde_json::Map::new(),
            iat: 1_800_000_000,
            exp: 1_800_000_000 + 3600,
            lexp: None,
            nonce: Some("n-1".into()),
        }
    }

    fn at(unix: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(unix).unwrap()
    }

    #[test]
    fn a_signed_lease_verifies_and_returns_its_claims() {
        let key = SigningKey::generate(&mut StdRng::seed_from_u64(1));
        let c = claims(&key);
        let token = key.sign(&c).unwrap();
        assert!(token.starts_with("v1."));
        let got = verify(
            &token,
            &[key.public_key()],
            at(1_800_000_100),
            Expect::default(),
        );
        assert_eq!(got, Ok(c));
    }

    #[test]
    fn payload_fields_are_in_wire_order() {
        let key = SigningKey::generate(&mut StdRng::seed_from_u64(1));
        let token = key.sign(&claims(&key)).unwrap();
        let payload = b64::decode(token.split('.').nth(1).unwrap()).unwrap();
        let text = String::from_utf8(payload).unwrap();
        let order: Vec<usize> = [
            "\"kid\"",
            "\"env\"",
            "\"lid\"",
            "\"pid\"",
            "\"fp\"",
            "\"st\"",
            "\"ent\"",
            "\"iat\"",
            "\"exp\"",
            "\"lexp\"",
            "\"nonce\"",
        ]
        .iter()
        .map(|f| text.find(f).unwrap())
        .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
    }

    #[test]
    fn signing_with_claims_of_another_key_is_refused() {
        let a = SigningKey::generate(&mut StdRng::seed_from_u64(1));
        let b = SigningKey::generate(&mut StdRng::seed_from_u64(2));
        assert!(b.sign(&claims(&a)).is_err());
    }

    #[test]
    fn a_key_rebuilt_from_its_seed_is_the_same_key() {
        let a = SigningKey::generate(&mut StdRng::seed_from_u64(1));
        let b = SigningKey::from_seed(*a.expose_seed()).unwrap();
        assert_eq!(a.public_key(), b.public_key());
        assert_eq!(a.kid().len(), 16);
    }

    #[test]
    fn time_bounds_are_exclusive_at_exp_and_allow_five_minutes_of_skew() {
        let key = SigningKey::generate(&mut StdRng::seed_from_u64(1));
        let c = claims(&key);
        let token = key.sign(&c).unwrap();
        let keys = [key.public_key()];
        let e = Expect::default();
        assert!(verify(&token, &keys, at(c.exp - 1), e).is_ok());
        assert_eq!(
            verify(&token, &keys, at(c.exp), e),
            Err(LeaseError::Expired)
        );
        assert!(verify(&token, &keys, at(c.iat - 300), e).is_ok());
        assert_eq!(
            verify(&token, &keys, at(c.iat - 301), e),
            Err(LeaseError::IssuedInFuture)
        );
    }

    #[test]
    fn lease_expiry_is_the_earlier_of_ttl_and_license_expiry_plus_grace() {
        let now = datetime!(2026-11-23 12:00 UTC);
        let day = Duration::days(1);
        assert_eq!(lease_expiry(now, day, None, Duration::ZERO), now + day);
        assert_eq!(
            lease_expiry(now, day, Some(now + Duration::hours(2)), Duration::hours(1)),
            now + Duration::hours(3)
        );
        assert_eq!(
            lease_expiry(now, Duration::days(30), None, Duration::ZERO),
            now + MAX_TTL
        );
    }

    #[test]
    fn published_keys_round_trip_through_base64url() {
        let key = SigningKey::generate(&mut StdRng::seed_from_u64(1)).public_key();
        assert_eq!(
            PublicKey::from_b64(&key.kid, &key.x_b64()),
            Some(key.clone())
        );
        assert_eq!(PublicKey::from_b64(&key.kid, "AAAA"), None);
    }
}
