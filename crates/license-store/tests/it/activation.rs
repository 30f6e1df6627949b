//! Activation under concurrency, idempotency, validation and its coalesced writes.

use std::sync::Barrier;

use license_core::{Action, Outcome};
use license_store::activation::NewActivation;
use license_store::model::ActivationStatus;
use time::Duration;

use license_store::both_backends;
use license_store::testkit::*;

fn activation(f: &str) -> NewActivation {
    NewActivation {
        fingerprint: fp(f),
        name: Some("laptop".into()),
        platform: None,
        ip: None,
        metadata: None,
    }
}

/// Fires `n` concurrent activations with distinct fingerprints at one license; returns how many
/// were activated and how many refused for the limit.
fn storm(
    store: &license_store::Store,
    key: &str,
    n: usize,
    same_fingerprint: bool,
) -> (usize, usize) {
    let barrier = Barrier::new(n);
    let outcomes: Vec<Outcome> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let barrier = &barrier;
                s.spawn(move || {
                    let name = if same_fingerprint {
                        "same".to_owned()
                    } else {
                        format!("host-{i}")
                    };
                    barrier.wait();
                    store
                        .activate(&admin(), now(), key, activation(&name), Duration::ZERO)
                        .unwrap()
                        .decision
                        .outcome
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let activated = outcomes
        .iter()
        .filter(|o| **o == Outcome::Activated)
        .count();
    let refused = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::LimitExceeded { .. } | Outcome::AlreadyActivated))
        .count();
    assert_eq!(activated + refused, n, "unexpected outcomes: {outcomes:?}");
    (activated, refused)
}

both_backends! {
    fn storm_of_100_activations_never_exceeds_limit_of_5(db) {
        let f = Fixture::new(db);
        for round in 0..20 {
            let lic = f.assigned(db, 5);
            let (activated, refused) = storm(db, key_of(&lic), 100, false);
            assert_eq!((activated, refused), (5, 95), "round {round}");
            let view = db.license(lic.license.license.id).unwrap();
            assert_eq!(view.license.activations_active, 5);
            let active = db
                .license_activations(lic.license.license.id, 500, None)
                .unwrap()
                .items
                .into_iter()
                .filter(|a| a.status == ActivationStatus::Active)
                .count();
            assert_eq!(active, 5, "round {round}");
        }
    }
}

both_backends! {
    fn concurrent_activations_of_one_fingerprint_use_one_slot(db) {
        let f = Fixture::new(db);
        let lic = f.assigned(db, 5);
        let (activated, already) = storm(db, key_of(&lic), 30, true);
        assert_eq!((activated, already), (1, 29));
        assert_eq!(db.license(lic.license.license.id).unwrap().license.activations_active, 1);
    }
}

both_backends! {
    fn first_activation_moves_assigned_to_active_with_audit_and_events(db) {
        let f = Fixture::new(db);
        let lic = f.assigned(db, 2);
        let before = log_counts(db);
        let a = db.activate(&admin(), now(), key_of(&lic), activation("host-1"), Duration::ZERO).unwrap();
        assert_eq!(a.decision.outcome, Outcome::Activated);
        assert_eq!(a.decision.transition, Some(Action::Activate));
        let l = a.license.unwrap();
        assert_eq!(l.status.as_str(), "active");
        assert!(l.first_activated_at.is_some());
        // license.activated + activation.created: two audit entries and two events.
        assert_eq!(log_counts(db), (before.0 + 2, before.1 + 2));
        let again = db.activate(&admin(), now(), key_of(&lic), activation("host-1"), Duration::ZERO).unwrap();
        assert_eq!(again.decision.outcome, Outcome::AlreadyActivated);
        assert_eq!(again.activation.unwrap().id, a.activation.unwrap().id);
        assert_eq!(log_counts(db), (before.0 + 2, before.1 + 2), "idempotent activation writes nothing");
    }
}

both_backends! {
    fn activation_refusals_write_nothing(db) {
        let f = Fixture::new(db);
        let available = f.available(db);
        let before = log_counts(db);
        let a = db.activate(&admin(), now(), key_of(&available), activation("h"), Duration::ZERO).unwrap();
        assert_eq!(a.decision.outcome, Outcome::NotAssigned);
        let missing = db.activate(&admin(), now(), "NOPE-0000-0000", activation("h"), Duration::ZERO).unwrap();
        assert_eq!(missing.decision.outcome, Outcome::NotFound);
        assert_eq!(log_counts(db), before);
    }
}

both_backends! {
    fn deactivation_frees_a_slot(db) {
        let f = Fixture::new(db);
        let lic = f.assigned(db, 1);
        let key = key_of(&lic);
        db.activate(&admin(), now(), key, activation("a"), Duration::ZERO).unwrap();
        let full = db.activate(&admin(), now(), key, activation("b"), Duration::ZERO).unwrap();
        assert_eq!(full.decision.outcome, Outcome::LimitExceeded { limit: 1, active: 1 });
        let d = db.deactivate(&admin(), now(), key, &fp("a")).unwrap();
        assert_eq!(d.status, ActivationStatus::Deactivated);
        assert!(db.deactivate(&admin(), now(), key, &fp("a")).is_err(), "already deactivated");
        let b = db.activate(&admin(), now(), key, activation("b"), Duration::ZERO).unwrap();
        assert_eq!(b.decision.outcome, Outcome::Activated);
        let by_id = db.deactivate_activation(&admin(), now(), b.activation.unwrap().id).unwrap();
        assert_eq!(by_id.status, ActivationStatus::Deactivated);
        assert_eq!(db.license(lic.license.license.id).unwrap().license.activations_active, 0);
    }
}

both_backends! {
    fn validate_answers_by_digest_with_normalisation(db) {
        let f = Fixture::new(db);
        let lic = f.assigned(db, 3);
        let typed = format!("  {}  ", key_of(&lic).to_lowercase());
        let v = db.validate(&admin(), now(), &typed, None, None, Duration::ZERO).unwrap();
        assert_eq!(v.decision.outcome, Outcome::Valid);
        assert_eq!(v.license.unwrap().id, lic.license.license.id);
        let with_fp = db.validate(&admin(), now(), key_of(&lic), Some(&fp("x")), None, Duration::ZERO).unwrap();
        assert_eq!(with_fp.decision.outcome, Outcome::NotActivated);
        let missing = db.validate(&admin(), now(), "ACME-0000", None, None, Duration::ZERO).unwrap();
        assert_eq!(missing.decision.outcome, Outcome::NotFound);
    }
}

both_backends! {
    fn last_validated_at_is_written_at_most_once_a_minute(db) {
        let f = Fixture::new(db);
        let lic = f.assigned(db, 3);
        let key = key_of(&lic);
        let t0 = now();
        db.activate(&admin(), t0, key, activation("h"), Duration::ZERO).unwrap();
        let seen = |t| {
            db.validate(&admin(), t, key, Some(&fp("h")), None, Duration::ZERO).unwrap();
            db.license_activations(lic.license.license.id, 1, None).unwrap().items[0].last_validated_at
        };
        assert_eq!(seen(t0 + Duration::seconds(30)), t0, "within a minute: no write");
        assert_eq!(seen(t0 + Duration::seconds(59)), t0);
        let t1 = t0 + Duration::seconds(61);
        assert_eq!(seen(t1), t1, "after a minute: refreshed");
        assert_eq!(seen(t1 + Duration::seconds(10)), t1);
    }
}

both_backends! {
    fn past_expiry_validate_expires_the_license_in_the_same_call(db) {
        let f = Fixture::new(db);
        let mut n = f.new_license();
        n.customer_id = Some(f.customer.id);
        let t0 = now();
        n.expires_at = Some(t0 + Duration::days(1));
        let lic = db.create_license(&admin(), t0, n).unwrap();
        let key = key_of(&lic);
        let grace = Duration::days(2);
        let in_grace = db.validate(&admin(), t0 + Duration::days(2), key, None, None, grace).unwrap();
        assert!(matches!(in_grace.decision.outcome, Outcome::GracePeriod { .. }));
        assert_eq!(in_grace.license.unwrap().status.as_str(), "assigned");
        let before = log_counts(db);
        let over = db.validate(&admin(), t0 + Duration::days(3), key, None, None, grace).unwrap();
        assert_eq!(over.decision.outcome, Outcome::Expired);
        assert_eq!(over.license.unwrap().status.as_str(), "expired");
        assert_eq!(log_counts(db), (before.0 + 1, before.1 + 1), "audit + license.expired event");
        let again = db.validate(&admin(), t0 + Duration::days(3), key, None, None, grace).unwrap();
        assert_eq!(again.decision.outcome, Outcome::Expired);
        assert_eq!(log_counts(db), (before.0 + 1, before.1 + 1), "expired once");
    }
}

both_backends! {
    fn first_activation_basis_starts_the_clock_at_first_activation(db) {
        let f = Fixture::with_generator(db, |g| {
            g.default_validity_days = Some(30);
            g.expiry_basis = Some(license_store::model::ExpiryBasis::FirstActivation);
        });
        let lic = f.assigned(db, 2);
        assert_eq!(lic.license.license.expires_at, None);
        let t = now();
        let a = db.activate(&admin(), t, key_of(&lic), activation("h"), Duration::ZERO).unwrap();
        assert_eq!(a.license.unwrap().expires_at, Some(t + Duration::days(30)));
    }
}

both_backends! {
    fn the_limit_cannot_drop_below_the_active_activations(db) {
        let f = Fixture::new(db);
        let lic = f.assigned(db, 3);
        for h in ["a", "b"] {
            db.activate(&admin(), now(), key_of(&lic), activation(h), Duration::ZERO).unwrap();
        }
        let id = lic.license.license.id;
        let lower = |n| license_store::licenses::LicensePatch { activation_limit: Some(n), ..Default::default() };
        let e = db.update_license(&admin(), now(), id, lower(1)).unwrap_err();
        assert!(matches!(e, license_store::StoreError::Invalid { field: "activation_limit", .. }), "{e}");
        assert_eq!(db.update_license(&admin(), now(), id, lower(2)).unwrap().license.activation_limit, 2);
        assert_eq!(db.update_license(&admin(), now(), id, lower(-1)).unwrap().license.activation_limit, -1);
    }
}

both_backends! {
    fn validate_now_answers_only_sqlite_reads_that_need_no_write(db) {
        let f = Fixture::new(db);
        let mut n = f.new_license();
        n.customer_id = Some(f.customer.id);
        let t0 = now();
        n.expires_at = Some(t0 + Duration::days(1));
        let lic = db.create_license(&admin(), t0, n).unwrap();
        let key = key_of(&lic);
        db.activate(&admin(), t0, key, activation("h"), Duration::ZERO).unwrap();
        let quick = |t, fingerprint: Option<&str>| {
            let fingerprint = fingerprint.map(fp);
            db.validate_now(t, key, fingerprint.as_ref(), None, Duration::ZERO)
                .map(|a| a.unwrap().decision.outcome)
        };
        if db.is_postgres() {
            assert_eq!(quick(t0, None), None, "PostgreSQL always goes the blocking way");
            return;
        }
        assert_eq!(quick(t0, None), Some(Outcome::Valid));
        assert_eq!(quick(t0, Some("other")), Some(Outcome::NotActivated));
        assert_eq!(quick(t0 + Duration::seconds(30), Some("h")), Some(Outcome::Valid));
        assert_eq!(quick(t0 + Duration::seconds(61), Some("h")), None, "last_validated_at due");
        assert_eq!(quick(t0 + Duration::days(2), None), None, "lazy expiry due");
        let before = log_counts(db);
        assert_eq!(
            db.validate_now(t0, "NOPE-NOPE-NOPE-NOPE", None, None, Duration::ZERO)
                .map(|a| a.unwrap().decision.outcome),
            Some(Outcome::NotFound)
        );
        assert_eq!(log_counts(db), before, "validate_now never writes");
    }
}
