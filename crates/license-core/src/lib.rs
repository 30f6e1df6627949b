//! Keysmith's licensing domain, free of IO: the license state machine, key formats and minting,
//! key digests, encryption of keys at rest, Ed25519 leases and their offline verification, and the
//! validation decision.
//!
//! This crate never touches a socket, a file, a database or the clock: time (`now`) and
//! randomness (`rng`) are parameters, so every rule is testable and the same code serves the
//! Keysmith server, other Rust services and customer software verifying leases offline.
//!
//! Sign a lease and verify it as customer software would, with only the published public key:
//!
//! ```
//! use license_core::lease::{self, Claims, Expect, LeaseError, SigningKey};
//! use license_core::LicenseStatus;
//! use rand::SeedableRng;
//! use time::{Duration, OffsetDateTime};
//!
//! let mut rng = rand::rngs::StdRng::seed_from_u64(42);
//! let key = SigningKey::generate(&mut rng);
//! let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
//! let exp = lease::lease_expiry(now, Duration::days(7), None, Duration::ZERO);
//! let claims = Claims {
//!     kid: key.kid().to_owned(),
//!     env: "production".into(),
//!     lid: uuid::Uuid::nil(),
//!     pid: uuid::Uuid::nil(),
//!     fp: Some("laptop-7".into()),
//!     st: LicenseStatus::Active,
//!     ent: serde_json::Map::new(),
//!     iat: now.unix_timestamp(),
//!     exp: exp.unix_timestamp(),
//!     lexp: None,
//!     nonce: Some("c1f3".into()),
//! };
//! let token = key.sign(&claims).unwrap();
//!
//! let published = [key.public_key()];
//! let expect = Expect { fingerprint: Some("laptop-7"), env: Some("production") };
//! assert_eq!(lease::verify(&token, &published, now, expect), Ok(claims));
//! let later = now + Duration::days(8);
//! assert_eq!(lease::verify(&token, &published, later, expect), Err(LeaseError::Expired));
//! ```
#![warn(missing_docs)]

pub mod b64;
pub mod decision;
pub mod digest;
pub mod keys;
pub mod lease;
pub mod seal;
pub mod state;
pub mod template;
pub mod totp;

pub use decision::{
    ActivationLimit, Decision, Fingerprint, Instance, LicenseSnapshot, Outcome, ProductRef,
    decide_activation, decide_validation,
};
pub use digest::DigestKey;
pub use keys::{KeyDigest, KeyFormat, LicenseKey};
pub use lease::{Claims, LeaseError, PublicKey, SigningKey};
pub use seal::{MasterKey, Sealer};
pub use state::{Action, InvalidTransition, LicenseStatus, transition};

/// A freshly minted key with everything the store keeps of it (never the plaintext).
#[derive(Debug, Clone)]
pub struct MintedKey {
    /// The full key, to be shown once.
    pub key: LicenseKey,
    /// HMAC-SHA-256 of the normalised key under the environment's digest key: the lookup index.
    pub digest: KeyDigest,
    /// The key sealed under the master key, bound to the license id.
    pub ciphertext: Vec<u8>,
    /// First eight characters.
    pub prefix: String,
    /// Last four characters.
    pub last4: String,
    /// Masked display form (SPEC §5).
    pub display: String,
}

/// Where a minted key's digest and ciphertext come from: the environment's keys.
#[derive(Debug, Clone, Copy)]
pub struct KeyVault<'a> {
    /// Seals the key under the master key.
    pub sealer: &'a Sealer,
    /// Digests the key for lookup.
    pub digests: &'a DigestKey,
}

/// Mints a key for license `license_id`: generate, digest, and seal (the license id is the
/// associated data, so the ciphertext opens for this license only).
pub fn mint_key(
    format: &KeyFormat,
    product_code: &str,
    license_id: uuid::Uuid,
    vault: KeyVault<'_>,
    rng: &mut impl rand::RngCore,
) -> MintedKey {
    let key = format.generate(product_code, rng);
    let ciphertext = vault
        .sealer
        .seal(key.expose().as_bytes(), license_id.as_bytes(), rng);
    MintedKey {
        digest: vault.digests.of_key(&key),
        prefix: key.prefix().to_owned(),
        last4: key.last4().to_owned(),
        display: key.display_with(&format.lead(product_code)),
        ciphertext,
        key,
    }
}

/// Opens a stored key ciphertext of license `license_id` (for `reveal`).
pub fn reveal_key(
    sealer: &Sealer,
    license_id: uuid::Uuid,
    ciphertext: &[u8],
) -> Result<LicenseKey, seal::OpenError> {
    let plain = sealer.open(ciphertext, license_id.as_bytes())?;
    let text = String::from_utf8(plain).map_err(|_| seal::OpenError)?;
    Ok(LicenseKey::from_input(&text))
}
