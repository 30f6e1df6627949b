//! Lifecycle changes: each through the core state machine, each with its audit entry and event
//! in the same transaction; refusals change nothing.

use license_core::{Action, LicenseStatus, Outcome};
use license_store::Page;
use license_store::StoreError;
use license_store::activation::NewActivation;
use license_store::audit::AuditFilter;
use license_store::licenses::{LicenseAction, LicensePatch};
use license_store::model::ActivationStatus;
use time::Duration;

use license_store::both_backends;
use license_store::testkit::*;

fn activate(db: &license_store::Store, key: &str, f: &str) {
    let n = NewActivation {
        fingerprint: fp(f),
        name: None,
        platform: None,
        ip: None,
        metadata: None,
    };
    let a = db
        .activate(&admin(), now(), key, n, Duration::ZERO)
        .unwrap();
    assert_eq!(a.decision.outcome, Outcome::Activated);
}

both_backends! {
    fn minted_key_is_shown_once_and_never_stored(db) {
        let f = Fixture::new(db);
        let lic = f.assigned(db, 1);
        let key = key_of(&lic).to_owned();
        assert!(license_core::keys::check_chunk_is_valid(&key));
        assert_eq!(lic.license.license.key_display, lic.key.display_with(&f.generator.format.lead(&f.product.code)));
        assert_eq!(lic.license.license.key_display, format!("{}-····-{}", f.product.code, lic.key.last4()), "SPEC §5: the lead, a mask, the last four");
        let json = serde_json::to_string(&lic.license).unwrap();
        assert!(!json.contains(&key), "the admin view must not carry the key");
        if let Some(path) = db.sqlite_file() {
            // Checkpoint the WAL so every committed page is in the main file, then scan all files.
            use diesel::connection::SimpleConnection;
            db.conn().unwrap().batch_execute("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
            for p in [path.clone(), path.with_extension("db-wal")] {
                if let Ok(bytes) = std::fs::read(&p) {
                    let found = bytes.windows(key.len()).any(|w| w == key.as_bytes());
                    assert!(!found, "plaintext key found in {}", p.display());
                }
            }
        }
        let revealed = db.reveal(&admin(), now(), lic.license.license.id).unwrap();
        assert_eq!(revealed.expose(), key);
        let (entries, _) = db.audit_log(&AuditFilter { action: Some("license.revealed".into()), ..Default::default() }, Page::default()).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].key_hint.as_deref(), Some(lic.license.license.key_display.as_str()), "SPEC §5: the audit holds at most the display form");
    }
}

both_backends! {
    fn every_action_writes_row_audit_and_event_together(db) {
        let f = Fixture::new(db);
        let lic = f.available(db);
        let id = lic.license.license.id;
        let key = key_of(&lic).to_owned();
        let step = |action: LicenseAction, expect: LicenseStatus| {
            let before = log_counts(db);
            let v = db.act(&admin(), now(), id, action).unwrap();
            assert_eq!(v.license.status, expect);
            assert_eq!(log_counts(db), (before.0 + 1, before.1 + 1));
        };
        step(LicenseAction::Assign { customer_id: f.customer.id }, LicenseStatus::Assigned);
        activate(db, &key, "h1");
        step(LicenseAction::Suspend { reason: "chargeback".into() }, LicenseStatus::Suspended);
        assert_eq!(db.license(id).unwrap().license.suspended_reason.as_deref(), Some("chargeback"));
        step(LicenseAction::Unsuspend, LicenseStatus::Active);
        assert_eq!(db.license(id).unwrap().license.suspended_reason, None);
        step(LicenseAction::Inactivate, LicenseStatus::Inactive);
        step(LicenseAction::Reactivate, LicenseStatus::Active);
        let (events, _) = db.events(&Default::default(), Page::new(500, 0).unwrap()).unwrap();
        let types: Vec<&str> = events.iter().rev().filter(|e| e.license_id == Some(id)).map(|e| e.event_type.as_str()).collect();
        assert_eq!(
            types,
            [
                "license.created",
                "license.assigned",
                "license.activated",
                "activation.created",
                "license.suspended",
                "license.unsuspended",
                "license.inactivated",
                "license.reactivated",
            ]
        );
    }
}

both_backends! {
    fn a_refused_transition_changes_nothing(db) {
        let f = Fixture::new(db);
        let lic = f.available(db);
        let id = lic.license.license.id;
        let before = log_counts(db);
        let err = db.act(&admin(), now(), id, LicenseAction::Suspend { reason: "x".into() }).unwrap_err();
        match err {
            StoreError::InvalidTransition(t) => {
                assert_eq!(t.from, LicenseStatus::Available);
                assert_eq!(t.action, Action::Suspend);
            }
            other => panic!("expected INVALID_TRANSITION, got {other:?}"),
        }
        assert_eq!(log_counts(db), before);
        assert_eq!(db.license(id).unwrap().license.status, LicenseStatus::Available);
    }
}

both_backends! {
    fn revoke_deactivates_every_activation(db) {
        let f = Fixture::new(db);
        let lic = f.assigned(db, 5);
        let id = lic.license.license.id;
        for h in ["a", "b", "c"] {
            activate(db, key_of(&lic), h);
        }
        let v = db.act(&admin(), now(), id, LicenseAction::Revoke).unwrap();
        assert_eq!(v.license.status, LicenseStatus::Revoked);
        assert_eq!(v.license.activations_active, 0);
        let acts = db.license_activations(id, 50, None).unwrap().items;
        assert_eq!(acts.len(), 3);
        assert!(acts.iter().all(|a| a.status == ActivationStatus::Deactivated && a.deactivated_at.is_some()));
        let val = db.validate(&admin(), now(), key_of(&lic), None, None, Duration::ZERO).unwrap();
        assert_eq!(val.decision.outcome, Outcome::Revoked);
        let n = NewActivation { fingerprint: fp("d"), name: None, platform: None, ip: None, metadata: None };
        let act = db.activate(&admin(), now(), key_of(&lic), n, Duration::ZERO).unwrap();
        assert_eq!(act.decision.outcome, Outcome::NotFound);
        assert!(matches!(db.act(&admin(), now(), id, LicenseAction::Revoke), Err(StoreError::InvalidTransition(_))));
        assert!(matches!(
            db.update_license(&admin(), now(), id, LicensePatch { activation_limit: Some(3), ..Default::default() }),
            Err(StoreError::NotEditable { status: LicenseStatus::Revoked })
        ));
    }
}

both_backends! {
    fn remint_replaces_the_key_and_keeps_the_terms(db) {
        let f = Fixture::new(db);
        let mut n = f.new_license();
        n.customer_id = Some(f.customer.id);
        n.activation_limit = Some(3);
        n.expires_at = Some(now() + Duration::days(90));
        n.feature_flags = Some(serde_json::json!({"pro": true}).as_object().unwrap().clone());
        let old = db.create_license(&admin(), now(), n).unwrap();
        activate(db, key_of(&old), "h1");
        let new = db.remint(&admin(), now(), old.license.license.id).unwrap();
        assert_ne!(key_of(&new), key_of(&old));
        let (o, nl) = (db.license(old.license.license.id).unwrap().license, new.license.license.clone());
        assert_eq!(o.status, LicenseStatus::Reminted);
        assert_eq!(o.reminted_to, Some(nl.id));
        assert_eq!(nl.reminted_from, Some(o.id));
        assert_eq!(nl.status, LicenseStatus::Assigned);
        assert_eq!((nl.customer_id, nl.activation_limit, nl.expires_at, &nl.feature_flags), (o.customer_id, o.activation_limit, o.expires_at, &o.feature_flags));
        assert_eq!(nl.activations_active, 0, "activations do not carry over");
        assert_eq!(o.activations_active, 0);
        let old_v = db.validate(&admin(), now(), key_of(&old), None, None, Duration::ZERO).unwrap();
        assert_eq!(old_v.decision.outcome, Outcome::Reminted);
        let new_v = db.validate(&admin(), now(), key_of(&new), None, None, Duration::ZERO).unwrap();
        assert_eq!(new_v.decision.outcome, Outcome::Valid);
        assert!(matches!(db.remint(&admin(), now(), o.id), Err(StoreError::InvalidTransition(_))));
    }
}

both_backends! {
    fn delete_needs_force_once_activated_and_keeps_the_audit_entry(db) {
        let f = Fixture::new(db);
        let unused = f.available(db);
        db.delete_license(&admin(), now(), unused.license.license.id, false).unwrap();
        assert!(matches!(db.license(unused.license.license.id), Err(StoreError::NotFound { .. })));
        let used = f.assigned(db, 2);
        let id = used.license.license.id;
        activate(db, key_of(&used), "h");
        assert!(matches!(db.delete_license(&admin(), now(), id, false), Err(StoreError::HasActivations)));
        db.delete_license(&admin(), now(), id, true).unwrap();
        let filter = AuditFilter { target_id: Some(id.to_string()), action: Some("license.deleted".into()), ..Default::default() };
        let (entries, total) = db.audit_log(&filter, Page::default()).unwrap();
        assert_eq!(total, 1);
        assert_eq!(entries[0].details["force"], true);
        let gone = db.validate(&admin(), now(), key_of(&used), None, None, Duration::ZERO).unwrap();
        assert_eq!(gone.decision.outcome, Outcome::NotFound);
    }
}

both_backends! {
    fn editing_follows_the_assignment_rules(db) {
        let f = Fixture::new(db);
        let lic = f.available(db);
        let id = lic.license.license.id;
        let assign = LicensePatch { customer_id: Some(Some(f.customer.id)), ..Default::default() };
        let v = db.update_license(&admin(), now(), id, assign).unwrap();
        assert_eq!(v.license.status, LicenseStatus::Assigned, "setting a customer on an available license assigns it");
        assert_eq!(v.customer.unwrap().id, f.customer.id);
        let remove = LicensePatch { customer_id: Some(None), ..Default::default() };
        assert!(matches!(db.update_license(&admin(), now(), id, remove), Err(StoreError::Invalid { field: "customer_id", .. })));
        let past = LicensePatch { expires_at: Some(Some(now() - Duration::days(1))), ..Default::default() };
        assert!(matches!(db.update_license(&admin(), now(), id, past), Err(StoreError::Invalid { field: "expires_at", .. })));
        let bad_limit = LicensePatch { activation_limit: Some(0), ..Default::default() };
        assert!(matches!(db.update_license(&admin(), now(), id, bad_limit), Err(StoreError::Invalid { field: "activation_limit", .. })));
        let ok = LicensePatch { activation_limit: Some(-1), metadata: Some(serde_json::json!({"crm": 7}).as_object().unwrap().clone()), ..Default::default() };
        let v = db.update_license(&admin(), now(), id, ok).unwrap();
        assert_eq!(v.license.activation_limit, -1);
        assert_eq!(v.license.metadata["crm"], 7);
        let big = serde_json::json!({"blob": "x".repeat(11 * 1024)}).as_object().unwrap().clone();
        let too_big = LicensePatch { metadata: Some(big), ..Default::default() };
        assert!(matches!(db.update_license(&admin(), now(), id, too_big), Err(StoreError::Invalid { field: "metadata", .. })));
    }
}

both_backends! {
    fn catalog_rules_are_enforced(db) {
        let f = Fixture::new(db);
        let dup = license_store::customers::NewCustomer { name: "Other".into(), email: f.customer.email.to_uppercase(), metadata: None };
        assert!(matches!(db.create_customer(&admin(), now(), dup), Err(StoreError::Duplicate { field: "email" })));
        let dup_code = license_store::products::NewProduct { name: "X".into(), code: f.product.code.clone(), metadata: None };
        assert!(matches!(db.create_product(&admin(), now(), dup_code), Err(StoreError::Duplicate { field: "code" })));
        let weak = license_store::generators::NewGenerator {
            product_id: f.product.id,
            name: "weak".into(),
            format: license_core::KeyFormat::Pattern { pattern: "PRO-####-@@@@-****".into() },
            default_activation_limit: None,
            default_validity_days: None,
            expiry_basis: None,
            default_feature_flags: None,
            lease_ttl_seconds: None,
        };
        assert!(matches!(db.create_generator(&admin(), now(), weak), Err(StoreError::WeakKeyFormat(_))));
        f.assigned(db, 1);
        assert!(matches!(db.delete_customer(&admin(), now(), f.customer.id), Err(StoreError::InUse { .. })));
        assert!(matches!(db.delete_generator(&admin(), now(), f.generator.id), Err(StoreError::InUse { .. })));
        assert!(matches!(db.delete_product(&admin(), now(), f.product.id), Err(StoreError::InUse { .. })));
        let archived = license_store::products::ProductPatch { status: Some(license_store::model::ProductStatus::Archived), ..Default::default() };
        db.update_product(&admin(), now(), f.product.id, archived).unwrap();
        assert!(matches!(db.create_license(&admin(), now(), f.new_license()), Err(StoreError::Invalid { field: "product_id", .. })));
    }
}

both_backends! {
    fn signing_keys_rotate_and_stay_published(db) {
        assert!(db.ensure_signing_key(now()).unwrap());
        assert!(!db.ensure_signing_key(now()).unwrap(), "kept, not recreated");
        let first = db.active_signing_key().unwrap();
        let second_kid = db.rotate_signing_key(now()).unwrap();
        let published = db.published_keys().unwrap();
        assert_eq!(published.len(), 2);
        assert_eq!(published.iter().find(|k| k.key.kid == first.kid()).unwrap().status, "retired");
        assert_eq!(published.iter().find(|k| k.key.kid == second_kid).unwrap().status, "active");
        assert_eq!(db.reopen().active_signing_key().unwrap().kid(), second_kid);
    }
}

both_backends! {
    fn a_revoked_bootstrap_token_never_comes_back_on_a_restart(db) {
        assert!(db.bootstrap_admin_token(now(), Some("ks_first_bootstrap_secret_0123456789")).unwrap());
        let boot = db.authenticate("ks_first_bootstrap_secret_0123456789", now()).unwrap().unwrap();
        db.delete_token(&admin(), now(), boot.id).unwrap();
        // Restarts: the same secret, then a new one, with no admin token left.
        let reopened = db.reopen();
        assert!(!reopened.bootstrap_admin_token(now(), Some("ks_first_bootstrap_secret_0123456789")).unwrap());
        assert!(!reopened.bootstrap_admin_token(now(), Some("ks_second_bootstrap_secret_0123456789")).unwrap());
        assert!(reopened.authenticate("ks_first_bootstrap_secret_0123456789", now()).unwrap().is_none());
        assert!(reopened.authenticate("ks_second_bootstrap_secret_0123456789", now()).unwrap().is_none());
        assert!(reopened.tokens().unwrap().is_empty());
    }
}

both_backends! {
    fn a_first_start_without_a_bootstrap_secret_still_counts_as_the_first(db) {
        assert!(!db.bootstrap_admin_token(now(), None).unwrap());
        assert!(!db.bootstrap_admin_token(now(), Some("ks_late_bootstrap_secret_0123456789")).unwrap());
        assert!(db.tokens().unwrap().is_empty());
    }
}

both_backends! {
    fn tokens_are_found_by_digest_only(db) {
        let (token, secret) = db.create_token(&admin(), now(), "ci", license_store::tokens::Role::Manager).unwrap();
        assert!(secret.starts_with("ks_") && secret.len() == 67);
        assert_eq!(db.authenticate(&secret, now()).unwrap().unwrap().id, token.id);
        assert!(db.authenticate("ks_nope", now()).unwrap().is_none());
        assert!(db.bootstrap_admin_token(now(), Some("ks_bootstrap_secret")).unwrap());
        assert!(!db.bootstrap_admin_token(now(), Some("ks_other")).unwrap(), "only on the first start");
        assert_eq!(db.authenticate("ks_bootstrap_secret", now()).unwrap().unwrap().name, "bootstrap");
        let mut s = db.settings().unwrap();
        assert_eq!(s.grace_period_days, 0);
        s.grace_period_days = 31;
        assert!(matches!(db.put_settings(&admin(), now(), &s), Err(StoreError::Invalid { field: "grace_period_days", .. })));
        s.grace_period_days = 7;
        db.put_settings(&admin(), now(), &s).unwrap();
        assert_eq!(db.settings().unwrap().grace_period_days, 7);
    }
}

both_backends! {
    fn expiry_basis_starts_the_clock_at_creation_or_assignment(db) {
        let t = now();
        let at_creation = Fixture::with_generator(db, |g| {
            g.default_validity_days = Some(30);
            g.expiry_basis = Some(license_store::model::ExpiryBasis::Creation);
        });
        let minted = db.create_license(&admin(), t, at_creation.new_license()).unwrap();
        assert_eq!(minted.license.license.expires_at, Some(t + Duration::days(30)));

        let at_assignment = Fixture::with_generator(db, |g| {
            g.default_validity_days = Some(90);
            g.expiry_basis = Some(license_store::model::ExpiryBasis::Assignment);
        });
        let lic = at_assignment.available(db);
        assert_eq!(lic.license.license.expires_at, None, "the clock waits for the assignment");
        let later = t + Duration::days(3);
        let v = db.act(&admin(), later, lic.license.license.id, LicenseAction::Assign { customer_id: at_assignment.customer.id }).unwrap();
        assert_eq!(v.license.expires_at, Some(later + Duration::days(90)));
    }
}

both_backends! {
    fn a_tokens_last_use_is_written_at_most_once_a_minute(db) {
        let (token, secret) = db.create_token(&admin(), now(), "ci", license_store::tokens::Role::Viewer).unwrap();
        let last_used = || db.tokens().unwrap().into_iter().find(|t| t.id == token.id).unwrap().last_used_at;
        assert_eq!(last_used(), None);
        let t0 = now();
        db.authenticate(&secret, t0).unwrap();
        assert_eq!(last_used(), Some(t0));
        db.authenticate(&secret, t0 + time::Duration::seconds(59)).unwrap();
        assert_eq!(last_used(), Some(t0), "coalesced within the minute");
        db.authenticate(&secret, t0 + time::Duration::seconds(61)).unwrap();
        assert_eq!(last_used(), Some(t0 + time::Duration::seconds(61)));
    }
}
