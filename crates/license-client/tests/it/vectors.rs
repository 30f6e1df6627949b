//! The lease vectors of `license-core` through the client's own path: each vector's token and
//! keys in a cache file, the client's clock at the vector's `now`, no server reachable. A vector
//! that verifies is licensed (`Valid` from the cache, or `Offline` once past half life); every
//! other vector is `Invalid` with the error's `LEASE_*` code.

use license_client::{Claims, Client, LeaseError, ManualClock, PublicKey, Status, lease_code};
use serde_json::Value;
use std::sync::Arc;
use time::OffsetDateTime;

use crate::support;

fn error_named(name: &str) -> LeaseError {
    [
        LeaseError::Malformed,
        LeaseError::UnknownKey,
        LeaseError::BadSignature,
        LeaseError::EnvironmentMismatch,
        LeaseError::FingerprintMismatch,
        LeaseError::IssuedInFuture,
        LeaseError::Expired,
    ]
    .into_iter()
    .find(|e| e.name() == name)
    .unwrap_or_else(|| panic!("no lease error named {name}"))
}

/// The payload's `env` and `fp`, when the token has a readable payload.
fn payload(token: &str) -> (Option<String>, Option<String>) {
    let value = token
        .split('.')
        .nth(1)
        .and_then(license_core::b64::decode)
        .and_then(|p| serde_json::from_slice::<serde_json::Value>(&p).ok())
        .unwrap_or_default();
    let text = |f: &str| value[f].as_str().map(str::to_owned);
    (text("env"), text("fp"))
}

#[test]
fn every_lease_vector_gets_the_same_verdict_through_the_client() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../license-core/tests/vectors/leases.json"
    );
    let vectors: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(vectors.len() >= 8);
    let closed = support::closed_url();
    for v in &vectors {
        let (name, token) = (v["name"].as_str().unwrap(), v["token"].as_str().unwrap());
        // The client always expects its own fingerprint and environment; where the vector
        // expects none, it takes the lease's (an unbound lease then cannot match: the client
        // never trusts a lease that any machine could carry).
        let (payload_env, payload_fp) = payload(token);
        let env = v["env"]
            .as_str()
            .map(str::to_owned)
            .or(payload_env)
            .unwrap_or_else(|| "production".into());
        let fingerprint = v["fingerprint"].as_str().map(str::to_owned).or(payload_fp);
        let expected = match (v["result"].as_str().unwrap(), &fingerprint) {
            ("ok", None) => Err(LeaseError::FingerprintMismatch),
            ("ok", Some(_)) => Ok(serde_json::from_value::<Claims>(v["claims"].clone()).unwrap()),
            (result, _) => Err(error_named(result)),
        };
        let keys: Vec<PublicKey> = v["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| {
                PublicKey::from_b64(k["kid"].as_str().unwrap(), k["x"].as_str().unwrap()).unwrap()
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        support::write_cache(dir.path(), &env, Some(support::KEY), Some(token), &keys, 0);
        let now = OffsetDateTime::from_unix_timestamp(v["now"].as_i64().unwrap()).unwrap();
        let client = Client::builder(&closed, &env)
            .cache_dir(dir.path())
            .fingerprint(fingerprint.unwrap_or_else(|| "unbound-client".into()))
            .clock(Arc::new(ManualClock::new(now)))
            .retries(0)
            .build()
            .unwrap();
        let got = client.check();
        match (&expected, &got) {
            (
                Ok(claims),
                Ok(Status::Valid {
                    claims: c,
                    refreshed: false,
                }),
            ) => {
                assert_eq!(c, claims, "{name}")
            }
            (Ok(claims), Ok(Status::Offline { lease_valid_until })) => {
                assert_eq!(lease_valid_until.unix_timestamp(), claims.exp, "{name}")
            }
            (Err(e), Ok(Status::Invalid { code })) => assert_eq!(code, lease_code(*e), "{name}"),
            _ => panic!("{name}: expected {expected:?}, got {got:?}"),
        }
    }
}
