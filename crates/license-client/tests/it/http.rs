//! The HTTP rules against a canned server: what is retried and how long the client waits
//! (backoff, `Retry-After`), what counts as an authoritative answer, and what is cached. Time
//! is a `ManualClock`, so waits are counted, never slept.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use license_client::{Client, Error, ManualClock, Status};
use time::{Duration, OffsetDateTime};

use crate::support::{self, Canned, ENV, FP, KEY, Reply, fixed, leased, published};

/// A cache holding `KEY` and a lease of signing key 1 issued 84 hours ago for 7 days (half its
/// life gone, so `check` asks the server), and a client of `url` whose clock stands at now.
fn half_life_client(dir: &Path, url: &str) -> (Client, Arc<ManualClock>) {
    let key = support::signing_key(1);
    let now = OffsetDateTime::now_utc();
    let issued = now - Duration::hours(84);
    let lease = key
        .sign(&support::claims(&key, issued, Duration::days(7)))
        .unwrap();
    let clock = Arc::new(ManualClock::new(now));
    let keys = [key.public_key()];
    let client = support::with_cache(dir, url, &lease, &keys, now.unix_timestamp(), clock.clone());
    (client, clock)
}

fn cache_text(client: &Client) -> String {
    std::fs::read_to_string(client.cache_file()).unwrap()
}

#[test]
fn activation_caches_key_lease_and_keys_so_check_works_after_a_restart() {
    let key = support::signing_key(1);
    let server = Canned::start(vec![
        leased(201, support::signing_key(1), Duration::days(7)),
        published(&[key.public_key()]),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(OffsetDateTime::now_utc()));
    let c = support::client(dir.path(), &server.url, clock.clone());
    let status = c.activate(KEY, Some("laptop"), Some("linux")).unwrap();
    assert!(
        matches!(&status, Status::Valid { claims, refreshed: true } if claims.ent["pro"] == true),
        "{status:?}"
    );
    assert_eq!(
        server.paths(),
        ["/v1/production/activate", "/v1/production/keys"],
        "the lease's key was unknown, so /keys was fetched once"
    );
    let text = cache_text(&c);
    assert!(text.contains(KEY) && text.contains(&key.public_key().x_b64()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(c.cache_file())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(!format!("{c:?}").contains(KEY), "Debug never shows the key");

    drop(c);
    let restarted = support::client(dir.path(), &support::closed_url(), clock);
    assert!(matches!(
        restarted.check(),
        Ok(Status::Valid {
            refreshed: false,
            ..
        })
    ));
}

#[test]
fn a_5xx_is_retried_after_a_jittered_backoff() {
    let server = Canned::start(vec![
        fixed(Reply::json(
            503,
            serde_json::json!({"error": {"code": "UNAVAILABLE"}}),
        )),
        leased(200, support::signing_key(1), Duration::days(7)),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let (c, clock) = half_life_client(dir.path(), &server.url);
    assert!(matches!(
        c.check(),
        Ok(Status::Valid {
            refreshed: true,
            ..
        })
    ));
    assert_eq!(server.requests(), 2);
    assert_eq!(clock.sleeps(), 1);
    let slept = clock.slept();
    assert!(
        (StdDuration::from_millis(125)..=StdDuration::from_millis(250)).contains(&slept),
        "{slept:?}"
    );
}

#[test]
fn a_short_retry_after_on_429_is_waited_out_before_the_retry() {
    let server = Canned::start(vec![
        fixed(
            Reply::json(429, serde_json::json!({"error": {"code": "RATE_LIMITED"}}))
                .header("retry-after", "3"),
        ),
        leased(200, support::signing_key(1), Duration::days(7)),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let (c, clock) = half_life_client(dir.path(), &server.url);
    assert!(matches!(c.validate(), Ok(Status::Valid { .. })));
    assert_eq!(server.requests(), 2);
    assert_eq!(clock.slept(), StdDuration::from_secs(3));
}

#[test]
fn a_long_retry_after_means_no_request_until_it_has_passed() {
    let server = Canned::start(vec![fixed(
        Reply::json(429, serde_json::json!({"error": {"code": "RATE_LIMITED"}}))
            .header("retry-after", "120"),
    )]);
    let dir = tempfile::tempdir().unwrap();
    let (c, clock) = half_life_client(dir.path(), &server.url);
    assert!(matches!(c.validate(), Ok(Status::Offline { .. })));
    assert_eq!(
        (server.requests(), clock.sleeps()),
        (1, 0),
        "no retry, no wait"
    );
    clock.advance(Duration::seconds(119));
    assert!(matches!(c.check(), Ok(Status::Offline { .. })));
    assert_eq!(server.requests(), 1, "quiet while Retry-After runs");
    clock.advance(Duration::seconds(1));
    assert!(matches!(c.check(), Ok(Status::Offline { .. })));
    assert_eq!(server.requests(), 2);

    let fresh = tempfile::tempdir().unwrap();
    let new = support::client(fresh.path(), &server.url, clock);
    match new.activate(KEY, None, None) {
        Err(Error::RateLimited { retry_after }) => {
            assert_eq!(retry_after, StdDuration::from_secs(120))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn pages_that_are_not_keysmith_answers_fall_back_on_the_cached_lease() {
    for reply in [
        Reply::text(200, "<html>Sign in to the hotel wifi</html>"),
        Reply::text(407, "<html>Proxy authentication required</html>"),
        Reply::json(200, serde_json::json!({"lease": 7})),
    ] {
        let server = Canned::start(vec![fixed(reply.clone())]);
        let dir = tempfile::tempdir().unwrap();
        let (c, _) = half_life_client(dir.path(), &server.url);
        assert!(matches!(c.check(), Ok(Status::Offline { .. })), "{reply:?}");
        assert_eq!(server.requests(), 3, "retried: {reply:?}");
    }
}

#[test]
fn a_4xx_answer_is_authoritative_and_drops_the_cached_lease() {
    let server = Canned::start(vec![fixed(Reply::json(
        422,
        serde_json::json!({"valid": false, "code": "REVOKED", "message": "License has been revoked"}),
    ))]);
    let dir = tempfile::tempdir().unwrap();
    let (c, clock) = half_life_client(dir.path(), &server.url);
    assert_eq!(
        c.check().unwrap(),
        Status::Invalid {
            code: "REVOKED".into()
        }
    );
    assert_eq!(server.requests(), 1, "an answer is not retried");
    support::assert_no_lease_left(dir.path(), clock);
}

#[test]
fn a_lease_without_the_nonce_this_client_sent_is_a_replay_and_refused() {
    let key = support::signing_key(1);
    let recorded = key
        .sign(&support::claims(
            &key,
            OffsetDateTime::now_utc(),
            Duration::days(7),
        ))
        .unwrap();
    let server = Canned::start(vec![fixed(Reply::json(
        200,
        serde_json::json!({"valid": true, "code": "VALID", "lease": recorded}),
    ))]);
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = half_life_client(dir.path(), &server.url);
    let before = cache_text(&c);
    assert_eq!(
        c.validate().unwrap(),
        Status::Invalid {
            code: "LEASE_NONCE_MISMATCH".into()
        }
    );
    assert!(!cache_text(&c).contains(&recorded));
    assert!(before.contains("\"lease\": \"v1."));
}

#[test]
fn deactivate_is_tried_once_and_forgets_the_key_only_when_the_server_agrees() {
    let down = Canned::start(vec![fixed(Reply::json(503, serde_json::json!({})))]);
    let dir = tempfile::tempdir().unwrap();
    let (c, clock) = half_life_client(dir.path(), &down.url);
    assert!(matches!(c.deactivate(), Err(Error::Unreachable { .. })));
    assert_eq!((down.requests(), clock.sleeps()), (1, 0));
    assert!(cache_text(&c).contains(KEY));

    for reply in [
        Reply::json(200, serde_json::json!({"code": "DEACTIVATED"})),
        Reply::json(
            404,
            serde_json::json!({"code": "NOT_FOUND", "message": "none"}),
        ),
    ] {
        let up = Canned::start(vec![fixed(reply)]);
        let dir = tempfile::tempdir().unwrap();
        let (c, _) = half_life_client(dir.path(), &up.url);
        c.deactivate().unwrap();
        assert!(!cache_text(&c).contains(KEY));
        assert_eq!(
            c.check().unwrap(),
            Status::Invalid {
                code: "NOT_ACTIVATED".into()
            }
        );
    }
}

#[test]
fn a_server_that_does_not_answer_in_time_counts_as_unreachable() {
    let server = Canned::start(vec![Box::new(|_, _| {
        std::thread::sleep(StdDuration::from_secs(2));
        Reply::json(200, serde_json::json!({}))
    })]);
    let dir = tempfile::tempdir().unwrap();
    let (_, clock) = half_life_client(dir.path(), &server.url);
    let c = Client::builder(&server.url, ENV)
        .cache_dir(dir.path())
        .fingerprint(FP)
        .clock(clock)
        .read_timeout(StdDuration::from_millis(100))
        .retries(0)
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    assert!(matches!(c.check(), Ok(Status::Offline { .. })));
    assert!(
        started.elapsed() < StdDuration::from_secs(1),
        "the timeout cut the wait"
    );
}

#[test]
fn inside_the_grace_period_the_answer_is_grace_period_until_its_end() {
    let key = support::signing_key(1);
    let now = OffsetDateTime::now_utc();
    let grace_until = now + Duration::days(6);
    let expected = Status::GracePeriod {
        until: grace_until.replace_nanosecond(0).unwrap(),
    };
    let server = Canned::start(vec![Box::new(move |_, body| {
        let request: serde_json::Value = serde_json::from_str(body).unwrap();
        let mut c = support::claims(&key, now, Duration::days(1));
        c.lexp = Some((now - Duration::days(1)).unix_timestamp());
        c.nonce = request["nonce"].as_str().map(str::to_owned);
        let until = grace_until.format(&time::format_description::well_known::Rfc3339);
        Reply::json(
            200,
            serde_json::json!({
                "valid": true, "code": "GRACE_PERIOD",
                "lease": key.sign(&c).unwrap(), "grace_until": until.unwrap(),
            }),
        )
    })]);
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = half_life_client(dir.path(), &server.url);
    assert_eq!(c.validate().unwrap(), expected);
    assert_eq!(c.check().unwrap(), expected, "from the cache too");
    assert_eq!(server.requests(), 1);
}
