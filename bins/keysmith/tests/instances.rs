//! Several instances on one PostgreSQL database (issue 15's freshness rule, SPEC §7): after an
//! admin change on one instance, every other validation instance answers with it within a
//! second. Two real `keysmith serve` processes share one PostgreSQL database (and the master key);
//! the second runs no workers. Whatever caching validation gains later must keep this true.
#![expect(clippy::unwrap_used, reason = "test: any failure fails the test")]

use std::time::{Duration, Instant};

use serde_json::json;

mod common;
use common::{Instance, agent, instance};

/// Waits until every instance answers `want` for `key`; panics after 1 second.
fn all_see(instances: &[&Instance], key: &str, fingerprint: &str, want: &str) -> Duration {
    let start = Instant::now();
    loop {
        if instances
            .iter()
            .all(|i| i.validate(key, fingerprint) == want)
        {
            return start.elapsed();
        }
        assert!(
            start.elapsed() <= Duration::from_secs(1),
            "not every instance answers {want} within 1 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn every_instance_sees_a_revoke_a_suspend_and_a_deactivation_within_a_second() {
    // A fresh database, dropped when `db` goes (after the instances, declared later).
    let Some(db) = license_store::testkit::TestDb::postgres_named("production") else {
        return;
    };
    let db_url = db.url.clone();
    let data = tempfile::tempdir().unwrap();
    let a = instance(data.path(), &db_url, true);
    let b = instance(data.path(), &db_url, false);

    let p = a.admin(
        "POST",
        "/products",
        Some(json!({"name": "Fresh", "code": "FRESH"})),
    );
    let g = a.admin("POST", "/generators", Some(json!({"product_id": p["id"], "name": "g", "format": {"kind": "chunked", "chunks": 4, "chunk_len": 4, "check": true}, "default_activation_limit": 3})));
    let c = a.admin(
        "POST",
        "/customers",
        Some(json!({"name": "Ada", "email": "ada@fresh.example.com"})),
    );
    let mint = || {
        let l = a.admin(
            "POST",
            "/licenses",
            Some(json!({"product_id": p["id"], "generator_id": g["id"], "customer_id": c["id"]})),
        );
        let key = l["key"].as_str().unwrap().to_owned();
        let mut res = agent()
            .post(format!("{}/v1/production/activate", b.validation))
            .send_json(json!({"key": key, "fingerprint": "laptop"}))
            .unwrap();
        assert_eq!(
            res.status().as_u16(),
            201,
            "{}",
            res.body_mut().read_to_string().unwrap()
        );
        (l["id"].as_str().unwrap().to_owned(), key)
    };

    let (revoked, key) = mint();
    all_see(&[&a, &b], &key, "laptop", "VALID");
    a.admin("POST", &format!("/licenses/{revoked}/revoke"), None);
    let t = all_see(&[&a, &b], &key, "laptop", "REVOKED");
    eprintln!("revoke seen everywhere after {t:?}");

    let (suspended, key) = mint();
    all_see(&[&a, &b], &key, "laptop", "VALID");
    a.admin(
        "POST",
        &format!("/licenses/{suspended}/suspend"),
        Some(json!({"reason": "chargeback"})),
    );
    let t = all_see(&[&a, &b], &key, "laptop", "SUSPENDED");
    eprintln!("suspend seen everywhere after {t:?}");

    let (deactivated, key) = mint();
    all_see(&[&a, &b], &key, "laptop", "VALID");
    let history = a.admin("GET", &format!("/licenses/{deactivated}/activations"), None);
    let activation = history["items"][0]["id"].as_str().unwrap().to_owned();
    b.admin(
        "POST",
        &format!("/activations/{activation}/deactivate"),
        None,
    );
    let t = all_see(&[&a, &b], &key, "laptop", "NOT_ACTIVATED");
    eprintln!("deactivation seen everywhere after {t:?}");
}
