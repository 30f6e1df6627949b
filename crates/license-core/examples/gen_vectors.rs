//! Writes the lease test vectors (`tests/vectors/leases.json`) to stdout, deterministically:
//! `cargo run -p license-core --example gen_vectors > crates/license-core/tests/vectors/leases.json`
#![expect(
    clippy::unwrap_used,
    reason = "a generator run by hand; any failure is a bug to see"
)]

use license_core::b64;
use license_core::lease::{self, Claims, Expect, SigningKey};
use license_core::{LicenseStatus, PublicKey};
use rand::{SeedableRng, rngs::StdRng};
use serde::Serialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

const IAT: i64 = 1_800_000_000;

fn claims(key: &SigningKey, fp: Option<&str>) -> Claims {
    let mut ent = serde_json::Map::new();
    ent.insert("pro".into(), true.into());
    ent.insert("seats".into(), 5.into());
    Claims {
        kid: key.kid().to_owned(),
        env: "production".into(),
        lid: "0196a1b2-0000-7000-8000-000000000001".parse().unwrap(),
        pid: "0196a1b2-0000-7000-8000-0000000000aa".parse().unwrap(),
        fp: fp.map(str::to_owned),
        st: LicenseStatus::Active,
        ent,
        iat: IAT,
        exp: IAT + 86_400,
        lexp: Some(IAT + 30 * 86_400),
        nonce: Some("f0e1d2c3".into()),
    }
}

fn keys(list: &[&SigningKey]) -> Vec<PublicKey> {
    list.iter().map(|k| k.public_key()).collect()
}

struct Case {
    name: &'static str,
    keys: Vec<PublicKey>,
    token: String,
    now: i64,
    fingerprint: Option<&'static str>,
    env: Option<&'static str>,
    /// What the case must give, decided by hand: the claims signed, or the error's name.
    expected: Result<Claims, &'static str>,
}

impl Case {
    fn to_vector(&self) -> Vector<'_> {
        let now = OffsetDateTime::from_unix_timestamp(self.now).unwrap();
        let expect = Expect {
            fingerprint: self.fingerprint,
            env: self.env,
        };
        let got = lease::verify(&self.token, &self.keys, now, expect).map_err(|e| e.name());
        assert_eq!(got, self.expected, "vector {}", self.name);
        let (result, claims) = match &self.expected {
            Ok(c) => ("ok", Some(c)),
            Err(name) => (*name, None),
        };
        Vector {
            name: self.name,
            keys: self
                .keys
                .iter()
                .map(|k| Key {
                    kid: &k.kid,
                    x: k.x_b64(),
                })
                .collect(),
            token: &self.token,
            now: self.now,
            fingerprint: self.fingerprint,
            env: self.env,
            result,
            claims,
        }
    }
}

/// One entry of the file, fields in the documented order.
#[derive(Serialize)]
struct Vector<'a> {
    name: &'a str,
    keys: Vec<Key<'a>>,
    token: &'a str,
    now: i64,
    fingerprint: Option<&'a str>,
    env: Option<&'a str>,
    result: &'a str,
    claims: Option<&'a Claims>,
}

#[derive(Serialize)]
struct Key<'a> {
    kid: &'a str,
    x: String,
}

fn main() {
    let mut rng = StdRng::seed_from_u64(20261123);
    let old = SigningKey::generate(&mut rng);
    let new = SigningKey::generate(&mut rng);
    let bound_claims = claims(&old, Some("host-1"));
    let unbound_claims = claims(&new, None);
    let unbound = new.sign(&unbound_claims).unwrap();
    let bound = old.sign(&bound_claims).unwrap();
    let (signed, sig) = bound.rsplit_once('.').unwrap();
    let payload_b64 = signed.strip_prefix("v1.").unwrap();

    // A payload changed after signing: the licence claims another fingerprint.
    let mut tampered: Value = serde_json::from_slice(&b64::decode(payload_b64).unwrap()).unwrap();
    tampered["fp"] = json!("host-2");
    let tampered_payload = format!(
        "v1.{}.{sig}",
        b64::encode(&serde_json::to_vec(&tampered).unwrap())
    );
    // One bit of the signature flipped.
    let mut sig_bytes = b64::decode(sig).unwrap();
    sig_bytes[10] ^= 0x01;
    let tampered_sig = format!("{signed}.{}", b64::encode(&sig_bytes));

    let rotated = keys(&[&new, &old]);
    let c = |name, keys: &Vec<PublicKey>, token: &str, now, fingerprint, env, expected| Case {
        name,
        keys: keys.clone(),
        token: token.to_owned(),
        now,
        fingerprint,
        env,
        expected,
    };
    let ok_bound = || Ok(bound_claims.clone());
    let only_old = keys(&[&old]);
    let only_new = keys(&[&new]);
    let cases = [
        c(
            "ok_bound_to_fingerprint",
            &only_old,
            &bound,
            IAT + 60,
            Some("host-1"),
            Some("production"),
            ok_bound(),
        ),
        c(
            "ok_without_expectations",
            &only_old,
            &bound,
            IAT + 60,
            None,
            None,
            ok_bound(),
        ),
        c(
            "ok_unbound_lease",
            &only_new,
            &unbound,
            IAT + 60,
            None,
            Some("production"),
            Ok(unbound_claims.clone()),
        ),
        c(
            "ok_retired_key_in_rotated_set",
            &rotated,
            &bound,
            IAT + 60,
            Some("host-1"),
            None,
            ok_bound(),
        ),
        c(
            "ok_last_second_before_exp",
            &only_old,
            &bound,
            IAT + 86_399,
            None,
            None,
            ok_bound(),
        ),
        c(
            "ok_iat_300s_ahead_is_tolerated",
            &only_old,
            &bound,
            IAT - 300,
            None,
            None,
            ok_bound(),
        ),
        c(
            "malformed_wrong_version",
            &only_old,
            &bound.replacen("v1.", "v2.", 1),
            IAT + 60,
            None,
            None,
            Err("Malformed"),
        ),
        c(
            "malformed_not_three_parts",
            &only_old,
            "v1.eyJraWQiOiJ4In0",
            IAT + 60,
            None,
            None,
            Err("Malformed"),
        ),
        c(
            "malformed_padding_in_payload",
            &only_old,
            &format!("v1.{payload_b64}==.{sig}"),
            IAT + 60,
            None,
            None,
            Err("Malformed"),
        ),
        c(
            "malformed_short_signature",
            &only_old,
            &format!("{signed}.AAAA"),
            IAT + 60,
            None,
            None,
            Err("Malformed"),
        ),
        c(
            "malformed_payload_not_json",
            &only_old,
            &format!("v1.{}.{sig}", b64::encode(b"not json")),
            IAT + 60,
            None,
            None,
            Err("Malformed"),
        ),
        c(
            "unknown_key_after_old_key_removed",
            &only_new,
            &bound,
            IAT + 60,
            None,
            None,
            Err("UnknownKey"),
        ),
        c(
            "bad_signature_tampered_payload",
            &only_old,
            &tampered_payload,
            IAT + 60,
            None,
            None,
            Err("BadSignature"),
        ),
        c(
            "bad_signature_tampered_signature",
            &only_old,
            &tampered_sig,
            IAT + 60,
            None,
            None,
            Err("BadSignature"),
        ),
        c(
            "bad_signature_key_swapped_under_same_kid",
            &[PublicKey {
                kid: old.kid().to_owned(),
                x: new.public_key().x,
            }]
            .to_vec(),
            &bound,
            IAT + 60,
            None,
            None,
            Err("BadSignature"),
        ),
        c(
            "expired_at_exp",
            &only_old,
            &bound,
            IAT + 86_400,
            None,
            None,
            Err("Expired"),
        ),
        c(
            "expired_long_after",
            &rotated,
            &bound,
            IAT + 8 * 86_400,
            Some("host-1"),
            Some("production"),
            Err("Expired"),
        ),
        c(
            "issued_in_future_beyond_skew",
            &only_old,
            &bound,
            IAT - 301,
            None,
            None,
            Err("IssuedInFuture"),
        ),
        c(
            "fingerprint_mismatch_other_host",
            &only_old,
            &bound,
            IAT + 60,
            Some("host-2"),
            None,
            Err("FingerprintMismatch"),
        ),
        c(
            "fingerprint_mismatch_unbound_lease",
            &only_new,
            &unbound,
            IAT + 60,
            Some("host-1"),
            None,
            Err("FingerprintMismatch"),
        ),
        c(
            "environment_mismatch",
            &only_old,
            &bound,
            IAT + 60,
            None,
            Some("staging"),
            Err("EnvironmentMismatch"),
        ),
    ];
    let out: Vec<Vector<'_>> = cases.iter().map(Case::to_vector).collect();
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
}
