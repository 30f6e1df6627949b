//! One worker pass over real environments: it expires what is due and emits reminders.

use std::collections::HashMap;

use license_http::Environments;
use license_store::both_backends;
use license_store::testkit::*;
use time::{Duration, OffsetDateTime};

both_backends! {
    fn a_worker_pass_sweeps_and_reminds_every_environment(db) {
        let f = Fixture::new(db);
        let due = f.assigned(db, 1).license.license.id;
        set_expiry(db, due, OffsetDateTime::now_utc() - Duration::hours(1));
        let soon = f.assigned(db, 1).license.license.id;
        set_expiry(db, soon, OffsetDateTime::now_utc() + Duration::days(3));
        let envs = Environments::from_stores([db.store.clone()]);
        let mut purges = HashMap::new();
        license_http::workers::lifecycle::pass(&envs, OffsetDateTime::now_utc(), &mut purges);
        assert_eq!(db.license(due).unwrap().license.status.as_str(), "expired");
        let filter = license_store::audit::EventFilter { event_type: Some("license.expiring_soon".into()), license_id: Some(soon.to_string()) };
        assert_eq!(db.events(&filter, license_store::Page::default()).unwrap().1, 1);
        assert!(purges.contains_key("test"), "the daily purge ran");
        license_http::workers::lifecycle::pass(&envs, OffsetDateTime::now_utc(), &mut purges);
        assert_eq!(db.events(&filter, license_store::Page::default()).unwrap().1, 1, "a second pass changes nothing");
    }
}
