//! The cache and the clock with no server at all (its port is closed): what a cached lease is
//! worth over time, a clock set back, and cache files that are corrupt or forged.

use std::path::Path;
use std::sync::Arc;

use license_client::{Client, Error, ManualClock, Status};
use time::{Duration, OffsetDateTime};

use crate::support::{self, KEY};

fn start() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_900_000_000).unwrap()
}

/// A client of a server that is down, with a cache holding `KEY` and a lease issued at
/// `start()` for 7 days by signing key 1; its cache folder, clock and the lease's claims.
struct Offline {
    dir: tempfile::TempDir,
    client: Client,
    clock: Arc<ManualClock>,
    claims: license_core::lease::Claims,
}

fn offline() -> Offline {
    let dir = tempfile::tempdir().unwrap();
    let key = support::signing_key(1);
    let claims = support::claims(&key, start(), Duration::days(7));
    let lease = key.sign(&claims).unwrap();
    let clock = Arc::new(ManualClock::new(start()));
    let url = support::closed_url();
    let keys = [key.public_key()];
    let latest = start().unix_timestamp();
    let client = support::with_cache(dir.path(), &url, &lease, &keys, latest, clock.clone());
    Offline {
        dir,
        client,
        clock,
        claims,
    }
}

/// A client of a server that is down, on a clock standing at `at`.
fn client_at(dir: &Path, at: OffsetDateTime) -> Client {
    support::client(dir, &support::closed_url(), Arc::new(ManualClock::new(at)))
}

#[test]
fn a_fresh_cached_lease_answers_valid_without_any_network() {
    let Offline {
        client,
        clock,
        claims,
        ..
    } = offline();
    clock.advance(Duration::hours(83));
    assert_eq!(
        client.check().unwrap(),
        Status::Valid {
            claims: claims.clone(),
            refreshed: false
        }
    );
    assert_eq!(clock.sleeps(), 0, "no retry, so no request was tried");
    assert_eq!(
        client.claims(),
        Some(claims),
        "entitlements without network"
    );
}

#[test]
fn past_half_life_an_unreachable_server_means_offline_until_exp_then_invalid() {
    let Offline {
        client,
        clock,
        claims,
        ..
    } = offline();
    let exp = OffsetDateTime::from_unix_timestamp(claims.exp).unwrap();
    clock.set(start() + Duration::hours(84));
    assert_eq!(
        client.check().unwrap(),
        Status::Offline {
            lease_valid_until: exp
        }
    );
    assert!(clock.sleeps() >= 1, "the unreachable server was retried");
    clock.set(exp - Duration::minutes(1));
    assert!(matches!(client.check(), Ok(Status::Offline { .. })));
    clock.set(exp);
    assert_eq!(
        client.check().unwrap(),
        Status::Invalid {
            code: "LEASE_EXPIRED".into()
        }
    );
}

#[test]
fn a_clock_set_back_more_than_an_hour_is_clock_tampered_and_an_hour_is_not() {
    let Offline { client, clock, .. } = offline();
    clock.set(start() + Duration::hours(10));
    assert!(matches!(client.check(), Ok(Status::Valid { .. })));
    clock.set(start() + Duration::hours(9));
    assert!(matches!(client.check(), Ok(Status::Valid { .. })));
    clock.set(start() + Duration::hours(9) - Duration::seconds(1));
    assert_eq!(client.check().unwrap(), Status::ClockTampered);
    assert_eq!(client.claims(), None);
    assert_eq!(client.validate().unwrap(), Status::ClockTampered);
    assert_eq!(
        client.activate(KEY, None, None).unwrap(),
        Status::ClockTampered
    );
}

#[test]
fn the_latest_time_seen_survives_a_restart() {
    let Offline {
        dir, client, clock, ..
    } = offline();
    clock.set(start() + Duration::hours(20));
    assert!(matches!(client.check(), Ok(Status::Valid { .. })));
    drop(client);
    let again = client_at(dir.path(), start() + Duration::hours(2));
    assert_eq!(again.check().unwrap(), Status::ClockTampered);
}

#[test]
fn a_cached_lease_from_the_future_is_refused_even_without_a_time_seen() {
    let claims = support::claims(&support::signing_key(1), start(), Duration::days(7));
    assert_eq!(
        verdict_on(&claims, start() - Duration::hours(2)),
        Status::Invalid {
            code: "LEASE_ISSUED_IN_FUTURE".into()
        },
        "a cache without a time seen still refuses a lease from the future"
    );
}

/// What a client whose server is down and whose cache holds `claims`, signed by signing key 1,
/// and no time seen, answers at `at`.
fn verdict_on(claims: &license_core::lease::Claims, at: OffsetDateTime) -> Status {
    let dir = tempfile::tempdir().unwrap();
    let key = support::signing_key(1);
    let lease = key.sign(claims).unwrap();
    let clock = Arc::new(ManualClock::new(at));
    let client = support::with_cache(
        dir.path(),
        &support::closed_url(),
        &lease,
        &[key.public_key()],
        0,
        clock,
    );
    client.check().unwrap()
}

#[test]
fn truncated_garbage_or_empty_cache_files_are_no_cache_and_never_panic() {
    let Offline { dir, client, .. } = offline();
    let path = client.cache_file().to_owned();
    drop(client);
    let whole = std::fs::read(&path).unwrap();
    let bad: Vec<Vec<u8>> = vec![
        whole[..whole.len() / 2].to_vec(),
        whole[..whole.len() - 3].to_vec(),
        Vec::new(),
        b"\x00\xff garbage \x7f".to_vec(),
        b"[1,2,3]".to_vec(),
        b"{\"format\":\"keysmith.license-cache.v1\"}".to_vec(),
        String::from_utf8(whole.clone())
            .unwrap()
            .replace("\"latest_seen\"", "\"latest_seen\":1,\"x\"")
            .into_bytes(),
    ];
    for bytes in bad {
        std::fs::write(&path, &bytes).unwrap();
        let client = client_at(dir.path(), start());
        assert_eq!(
            client.check().unwrap(),
            Status::Invalid {
                code: "NOT_ACTIVATED".into()
            },
            "{}",
            String::from_utf8_lossy(&bytes)
        );
    }
}

#[test]
fn a_lease_forged_with_another_key_is_dropped_and_never_licenses() {
    let genuine = support::signing_key(1);
    let forger = support::signing_key(666);
    // Another Ed25519 key signs claims naming the genuine key's id...
    let under_genuine_kid = {
        let mut c = support::claims(&genuine, start(), Duration::days(365));
        c.ent.insert("seats".into(), 1000.into());
        let signed = format!(
            "v1.{}",
            license_core::b64::encode(&serde_json::to_vec(&c).unwrap())
        );
        let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(&[9; 32]).unwrap();
        let sig = license_core::b64::encode(pair.sign(signed.as_bytes()).as_ref());
        format!("{signed}.{sig}")
    };
    // ...or its own id, which the environment never published.
    let under_own_kid = forger
        .sign(&support::claims(&forger, start(), Duration::days(7)))
        .unwrap();
    for (forged, code) in [
        (under_genuine_kid, "LEASE_BAD_SIGNATURE"),
        (under_own_kid, "LEASE_UNKNOWN_KEY"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(start()));
        let keys = [genuine.public_key()];
        let latest = start().unix_timestamp();
        let client = support::with_cache(
            dir.path(),
            &support::closed_url(),
            &forged,
            &keys,
            latest,
            clock,
        );
        assert_eq!(
            client.check().unwrap(),
            Status::Invalid { code: code.into() }
        );
        support::assert_no_lease_left(dir.path(), Arc::new(ManualClock::new(start())));
    }
}

#[test]
fn a_lease_of_another_machine_or_environment_is_not_honoured() {
    let key = support::signing_key(1);
    let mut other_machine = support::claims(&key, start(), Duration::days(7));
    other_machine.fp = Some("host-2".into());
    let mut other_env = support::claims(&key, start(), Duration::days(7));
    other_env.env = "staging".into();
    for (claims, code) in [
        (other_machine, "LEASE_FINGERPRINT_MISMATCH"),
        (other_env, "LEASE_ENVIRONMENT_MISMATCH"),
    ] {
        assert_eq!(
            verdict_on(&claims, start()),
            Status::Invalid { code: code.into() }
        );
    }
}

#[test]
fn without_a_key_check_answers_not_activated_and_deactivate_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let client = client_at(dir.path(), start());
    assert_eq!(
        client.check().unwrap(),
        Status::Invalid {
            code: "NOT_ACTIVATED".into()
        }
    );
    assert!(matches!(client.deactivate(), Err(Error::NotActivated)));
    assert!(!client.cache_file().exists(), "nothing to record yet");
}

#[test]
fn activating_with_the_server_down_is_an_error_that_names_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let port = support::closed_port();
    let clock = Arc::new(ManualClock::new(start()));
    let url = format!("http://127.0.0.1:{port}");
    let client = support::client(dir.path(), &url, clock.clone());
    match client.activate(KEY, None, None) {
        Err(e @ Error::Unreachable { .. }) => {
            let text = e.to_string();
            assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
            assert!(!text.contains(KEY), "the key is never in a message");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(clock.sleeps(), 2, "two retries after the first attempt");
    assert!(format!("{client:?}").contains("Client"));
}
