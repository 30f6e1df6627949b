//! The shared lease test vectors: core must agree with every case, and the file must keep
//! covering every verification error (clients in other languages are checked against it too).

use license_core::PublicKey;
use license_core::lease::{self, Claims, Expect, LeaseError};
use serde::Deserialize;
use std::collections::BTreeSet;
use time::OffsetDateTime;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Vector {
    name: String,
    keys: Vec<Key>,
    token: String,
    now: i64,
    fingerprint: Option<String>,
    env: Option<String>,
    result: String,
    claims: Option<Claims>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Key {
    kid: String,
    x: String,
}

fn load() -> Vec<Vector> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/leases.json");
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn core_agrees_with_every_lease_vector() {
    let vectors = load();
    assert!(vectors.len() >= 8, "only {} vectors", vectors.len());
    for v in &vectors {
        let keys: Vec<PublicKey> = v
            .keys
            .iter()
            .map(|k| PublicKey::from_b64(&k.kid, &k.x).unwrap())
            .collect();
        let expect = Expect {
            fingerprint: v.fingerprint.as_deref(),
            env: v.env.as_deref(),
        };
        let now = OffsetDateTime::from_unix_timestamp(v.now).unwrap();
        let got = lease::verify(&v.token, &keys, now, expect);
        match (&got, v.result.as_str()) {
            (Ok(claims), "ok") => assert_eq!(Some(claims), v.claims.as_ref(), "{}", v.name),
            (Err(e), name) => {
                assert_eq!(e.name(), name, "{}", v.name);
                assert!(
                    v.claims.is_none(),
                    "{}: an error case carries no claims",
                    v.name
                );
            }
            (Ok(_), other) => panic!("{}: verified, but the vector expects {other}", v.name),
        }
    }
}

#[test]
fn vectors_cover_every_error_and_rotation() {
    let vectors = load();
    let results: BTreeSet<&str> = vectors.iter().map(|v| v.result.as_str()).collect();
    let every = [
        LeaseError::Malformed,
        LeaseError::UnknownKey,
        LeaseError::BadSignature,
        LeaseError::Expired,
        LeaseError::IssuedInFuture,
        LeaseError::FingerprintMismatch,
        LeaseError::EnvironmentMismatch,
    ];
    for e in every {
        assert!(results.contains(e.name()), "no vector for {}", e.name());
    }
    assert!(results.contains("ok"));
    let names: Vec<&str> = vectors.iter().map(|v| v.name.as_str()).collect();
    for needed in ["tampered_payload", "tampered_signature", "rotated"] {
        assert!(
            names.iter().any(|n| n.contains(needed)),
            "no {needed} vector"
        );
    }
}
