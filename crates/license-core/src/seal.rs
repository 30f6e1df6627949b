//! Encryption at rest under the master key: AES-256-GCM (ring) with a fresh random nonce per
//! message and caller-chosen associated data, so a ciphertext moved to another row (another
//! license id, another signing key) fails to open instead of decrypting.
//!
//! Sealed form: `nonce (12 bytes) || ciphertext || tag (16 bytes)`.

use rand::RngCore;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

/// Length in bytes of the master key.
pub const MASTER_KEY_LEN: usize = 32;

/// The 32-byte master key. Secret: `Debug` prints nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey([u8; MASTER_KEY_LEN]);

impl MasterKey {
    /// Wraps raw key bytes.
    pub fn from_bytes(bytes: [u8; MASTER_KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// Reads a master key from a file's contents; `None` unless exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// A new random key.
    pub fn generate(rng: &mut impl RngCore) -> Self {
        let mut k = [0u8; MASTER_KEY_LEN];
        rng.fill_bytes(&mut k);
        Self(k)
    }

    /// The raw bytes, for writing the key file.
    pub fn expose(&self) -> &[u8; MASTER_KEY_LEN] {
        &self.0
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

/// A sealed message did not open: wrong key, wrong associated data, or tampered bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("ciphertext does not open under this master key and context")]
pub struct OpenError;

/// Seals and opens secrets under one master key. Build once and share; sealing allocates only
/// the output.
pub struct Sealer {
    key: LessSafeKey,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(AES-256-GCM)")
    }
}

/// Bytes a sealed message adds to its plaintext (nonce and tag).
pub const SEAL_OVERHEAD: usize = NONCE_LEN + 16;

impl Sealer {
    /// A sealer for `master`.
    pub fn new(master: &MasterKey) -> Self {
        // A 32-byte key is exactly what AES-256-GCM takes, so this cannot fail; match anyway
        // rather than panic.
        let unbound = match UnboundKey::new(&AES_256_GCM, &master.0) {
            Ok(k) => k,
            Err(_) => unreachable!("AES-256-GCM accepts every 32-byte key"),
        };
        Self {
            key: LessSafeKey::new(unbound),
        }
    }

    /// Encrypts `plaintext`, binding it to `aad` (e.g. the license id).
    pub fn seal(&self, plaintext: &[u8], aad: &[u8], rng: &mut impl RngCore) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let mut out = Vec::with_capacity(plaintext.len() + SEAL_OVERHEAD);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let tag = match self.key.seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut out[NONCE_LEN..],
        ) {
            Ok(tag) => tag,
            Err(_) => unreachable!("AES-GCM seals any message shorter than 64 GiB"),
        };
        out.extend_from_slice(tag.as_ref());
        out
    }

    /// Decrypts what [`Sealer::seal`] produced with the same `aad`.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, OpenError> {
        if sealed.len() < SEAL_OVERHEAD {
            return Err(OpenError);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| OpenError)?;
        let mut buf = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(aad), &mut buf)
            .map_err(|_| OpenError)?;
        let n = plain.len();
        buf.truncate(n);
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{SeedableRng, rngs::StdRng};

    fn sealer(seed: u64) -> Sealer {
        Sealer::new(&MasterKey::generate(&mut StdRng::seed_from_u64(seed)))
    }

    #[test]
    fn sealed_keys_open_with_the_same_context() {
        let s = sealer(1);
        let mut rng = StdRng::seed_from_u64(2);
        let sealed = s.seal(b"ACME-7KQ2-9XHM", b"license-1", &mut rng);
        assert_eq!(sealed.len(), 14 + SEAL_OVERHEAD);
        assert_eq!(s.open(&sealed, b"license-1").unwrap(), b"ACME-7KQ2-9XHM");
    }

    #[test]
    fn wrong_context_key_or_bytes_do_not_open() {
        let s = sealer(1);
        let mut rng = StdRng::seed_from_u64(2);
        let sealed = s.seal(b"secret", b"license-1", &mut rng);
        assert_eq!(s.open(&sealed, b"license-2"), Err(OpenError));
        assert_eq!(sealer(9).open(&sealed, b"license-1"), Err(OpenError));
        for i in 0..sealed.len() {
            let mut t = sealed.clone();
            t[i] ^= 1;
            assert_eq!(s.open(&t, b"license-1"), Err(OpenError), "byte {i}");
        }
        assert_eq!(s.open(&sealed[..10], b"license-1"), Err(OpenError));
    }

    #[test]
    fn every_seal_uses_a_fresh_nonce() {
        let s = sealer(1);
        let mut rng = StdRng::seed_from_u64(2);
        let a = s.seal(b"same", b"ctx", &mut rng);
        let b = s.seal(b"same", b"ctx", &mut rng);
        assert_ne!(a, b);
    }

    #[test]
    fn master_key_debug_is_redacted() {
        let k = MasterKey::from_bytes([7; 32]);
        assert_eq!(format!("{k:?}"), "MasterKey(<redacted>)");
    }
}
