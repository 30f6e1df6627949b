//! The worker's time-driven steps with an injected clock: expiry sweeper (with grace), the
//! expiring-soon reminders (once each, across restarts), and audit retention.

use license_core::LicenseStatus;
use license_store::Page;
use license_store::audit::{AuditFilter, EventFilter};
use license_store::both_backends;
use license_store::licenses::LicenseAction;
use license_store::products::NewProduct;
use license_store::testkit::*;
use time::Duration;

fn events_of(db: &license_store::Store, kind: &str) -> Vec<license_store::model::Event> {
    let f = EventFilter {
        event_type: Some(kind.into()),
        license_id: None,
    };
    db.events(&f, Page::new(500, 0).unwrap()).unwrap().0
}

both_backends! {
    fn the_sweeper_expires_past_grace_once(db) {
        let f = Fixture::new(db);
        let t0 = now();
        let expiring = |days: i64| {
            let mut n = f.new_license();
            n.customer_id = Some(f.customer.id);
            n.expires_at = Some(t0 + Duration::days(days));
            db.create_license(&admin(), t0, n).unwrap().license.license.id
        };
        let a = expiring(1);
        let later = expiring(10);
        let revoked = expiring(1);
        db.act(&admin(), t0, revoked, LicenseAction::Revoke).unwrap();
        let lifetime = f.assigned(db, 1).license.license.id;

        assert_eq!(db.sweep_expired(t0 + Duration::days(2), Duration::days(3), 100).unwrap(), 0, "inside grace");
        assert_eq!(db.sweep_expired(t0 + Duration::days(4) + Duration::seconds(1), Duration::days(3), 100).unwrap(), 1);
        assert_eq!(db.sweep_expired(t0 + Duration::days(5), Duration::days(3), 100).unwrap(), 0, "idempotent");
        let status = |id| db.license(id).unwrap().license.status;
        assert_eq!((status(a), status(later), status(revoked), status(lifetime)),
                   (LicenseStatus::Expired, LicenseStatus::Assigned, LicenseStatus::Revoked, LicenseStatus::Assigned));
        let audit = AuditFilter { target_id: Some(a.to_string()), action: Some("license.expired".into()), ..Default::default() };
        let (entries, _) = db.audit_log(&audit, Page::default()).unwrap();
        assert_eq!((entries.len(), entries[0].actor.as_str()), (1, "sweeper"));
        assert_eq!(events_of(db, "license.expired").len(), 1);
    }
}

both_backends! {
    fn reminders_go_out_30_14_and_7_days_ahead_once_each(db) {
        let f = Fixture::new(db);
        let t0 = now();
        let mut n = f.new_license();
        n.customer_id = Some(f.customer.id);
        n.expires_at = Some(t0 + Duration::days(40));
        let id = db.create_license(&admin(), t0, n).unwrap().license.license.id;
        let days_sent = |db: &license_store::Store| -> Vec<i64> {
            events_of(db, "license.expiring_soon").iter().filter(|e| e.license_id == Some(id)).map(|e| e.data["days"].as_i64().unwrap()).collect()
        };
        assert_eq!(db.send_expiry_reminders(t0, 100).unwrap(), 0, "40 days out: nothing yet");
        assert_eq!(db.send_expiry_reminders(t0 + Duration::days(11), 100).unwrap(), 1);
        assert_eq!(db.send_expiry_reminders(t0 + Duration::days(12), 100).unwrap(), 0);
        assert_eq!(db.send_expiry_reminders(t0 + Duration::days(27), 100).unwrap(), 1);
        let restarted = db.reopen();
        assert_eq!(restarted.send_expiry_reminders(t0 + Duration::days(27), 100).unwrap(), 0, "survives a restart");
        assert_eq!(restarted.send_expiry_reminders(t0 + Duration::days(34), 100).unwrap(), 1);
        assert_eq!(restarted.send_expiry_reminders(t0 + Duration::days(39), 100).unwrap(), 0);
        let mut sent = days_sent(db);
        sent.sort_unstable();
        assert_eq!(sent, [7, 14, 30]);

        let mut late = f.new_license();
        late.customer_id = Some(f.customer.id);
        late.expires_at = Some(t0 + Duration::days(5));
        let late = db.create_license(&admin(), t0, late).unwrap().license.license.id;
        assert_eq!(db.send_expiry_reminders(t0, 100).unwrap(), 1, "first seen 5 days out: one reminder");
        let late_days: Vec<i64> = events_of(db, "license.expiring_soon").iter().filter(|e| e.license_id == Some(late)).map(|e| e.data["days"].as_i64().unwrap()).collect();
        assert_eq!(late_days, [7]);
    }
}

both_backends! {
    fn retention_purges_old_entries_but_keeps_deletions(db) {
        let long_ago = now() - Duration::days(400);
        let p = db.create_product(&admin(), long_ago, NewProduct { name: "Old".into(), code: "OLD".into(), metadata: None }).unwrap();
        db.delete_product(&admin(), long_ago, p.id).unwrap();
        let recent = db.create_product(&admin(), now(), NewProduct { name: "New".into(), code: "NEW".into(), metadata: None }).unwrap();
        assert_eq!(db.purge_audit(now(), 365).unwrap(), 1);
        let actions: Vec<String> = db.audit_log(&AuditFilter::default(), Page::default()).unwrap().0.into_iter().map(|e| e.action).collect();
        assert!(actions.contains(&"product.deleted".to_owned()), "deletion entries are kept for ever");
        let (recent_entries, _) = db.audit_log(&AuditFilter { target_id: Some(recent.id.to_string()), ..Default::default() }, Page::default()).unwrap();
        assert_eq!(recent_entries.len(), 1, "recent entries stay");
        let (old_entries, _) = db.audit_log(&AuditFilter { target_id: Some(p.id.to_string()), ..Default::default() }, Page::default()).unwrap();
        assert_eq!(old_entries.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), ["product.deleted"]);
    }
}
