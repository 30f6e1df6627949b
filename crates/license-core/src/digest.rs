//! Key digests at rest (SPEC §5): HMAC-SHA-256 of the normalised key under a digest key derived
//! from the master key for one environment (HKDF-SHA-256, info `keysmith/key-digest/v1/<env>`).
//! A copy of the database alone cannot be brute-forced offline, and the same key has different
//! digests in different environments.

use ring::{hkdf, hmac};

use crate::keys::{KeyDigest, LicenseKey, crockford_form, normalize};
use crate::seal::MasterKey;

/// The version of the digest written today; rows with an older version are re-digested.
pub const DIGEST_VERSION: i32 = 2;

/// One environment's digest key. Secret: `Debug` prints nothing of it.
#[derive(Clone)]
pub struct DigestKey(hmac::Key);

impl std::fmt::Debug for DigestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DigestKey(<redacted>)")
    }
}

/// HKDF output length in bytes (one HMAC-SHA-256 key).
struct Len32;

impl hkdf::KeyType for Len32 {
    fn len(&self) -> usize {
        32
    }
}

impl DigestKey {
    /// The digest key of `environment` under `master`.
    pub fn derive(master: &MasterKey, environment: &str) -> Self {
        let info = format!("keysmith/key-digest/v1/{environment}");
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &[]).extract(master.expose());
        let mut okm = [0u8; 32];
        // `expand` and `fill` fail only for an output longer than 255 hash lengths; 32 bytes is
        // one.
        #[expect(clippy::expect_used, reason = "32 bytes is always a valid HKDF length")]
        prk.expand(&[info.as_bytes()], Len32)
            .and_then(|o| o.fill(&mut okm))
            .expect("HKDF-SHA-256 yields 32 bytes");
        Self(hmac::Key::new(hmac::HMAC_SHA256, &okm))
    }

    /// The digest of an already normalised key.
    pub fn of_normalized(&self, key: &str) -> KeyDigest {
        let tag = hmac::sign(&self.0, key.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        KeyDigest(out)
    }

    /// The digest of a key (already normalised at minting).
    pub fn of_key(&self, key: &LicenseKey) -> KeyDigest {
        self.of_normalized(key.expose())
    }

    /// The digests to look a typed key up by, best first: the key as typed (trimmed,
    /// upper-cased) and, where it differs, its Crockford reading. A pattern key may hold `O`,
    /// `I` or `L`, so the literal reading always wins; at most two index lookups, never a scan.
    pub fn lookup_digests(&self, raw: &str) -> Vec<KeyDigest> {
        let plain = normalize(raw);
        let crockford = crockford_form(&plain);
        let mut out = vec![self.of_normalized(&plain)];
        if crockford != plain {
            out.push(self.of_normalized(&crockford));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn master(b: u8) -> MasterKey {
        MasterKey::from_bytes([b; 32])
    }

    #[test]
    fn the_digest_is_hmac_sha256_under_the_hkdf_derived_key() {
        // Independently: HKDF-SHA-256 (RFC 5869, empty salt) with the SPEC's info, then
        // HMAC-SHA-256 — computed here with `ring`'s primitives step by step.
        let ikm = [7u8; 32];
        let prk = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &[0u8; 32]), &ikm);
        let mut t1_input = b"keysmith/key-digest/v1/production".to_vec();
        t1_input.push(1);
        let okm = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, prk.as_ref()), &t1_input);
        let expected = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, okm.as_ref()),
            b"ACME-7KQ2",
        );
        let got = DigestKey::derive(&master(7), "production").of_normalized("ACME-7KQ2");
        assert_eq!(got.as_bytes().as_slice(), expected.as_ref());
    }

    #[test]
    fn digests_differ_by_environment_and_by_master_key_and_are_not_plain_sha256() {
        let a = DigestKey::derive(&master(1), "production").of_normalized("ABC");
        let b = DigestKey::derive(&master(1), "staging").of_normalized("ABC");
        let c = DigestKey::derive(&master(2), "production").of_normalized("ABC");
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, KeyDigest::unkeyed("ABC"));
    }

    #[test]
    fn lookups_read_typed_keys_literally_then_as_crockford() {
        let dk = DigestKey::derive(&master(3), "production");
        let minted = LicenseKey::from_input("SOLO-7K02-1XHM");
        let digests = dk.lookup_digests("  solo-7ko2-ixhm \n");
        assert_eq!(digests.len(), 2);
        assert_eq!(digests[1], dk.of_key(&minted));
        assert_eq!(
            dk.lookup_digests("acme-7kq2"),
            vec![dk.of_normalized("ACME-7KQ2")]
        );
    }

    #[test]
    fn debug_hides_the_key() {
        let dk = DigestKey::derive(&master(3), "production");
        assert_eq!(format!("{dk:?}"), "DigestKey(<redacted>)");
    }
}
