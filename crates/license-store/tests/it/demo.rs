//! Seeding a demo (`keysmith demo`).

use license_core::LicenseStatus;
use license_store::Page;
use license_store::demo;
use license_store::search::LicenseFilter;
use time::Duration;

use license_store::both_backends;
use license_store::testkit::*;

both_backends! {
    fn the_demo_is_one_assigned_license_found_by_its_key_and_more_on_request(db) {
        let t = now();
        let d = demo::seed(db, &admin(), t).unwrap();
        assert_eq!(d.product.code, format!("DEMO{:04}", t.unix_timestamp() % 10_000));
        let l = &d.license.license;
        assert_eq!((l.customer_id, l.status, l.activation_limit), (Some(d.customer.id), LicenseStatus::Assigned, 3));
        assert_eq!(l.expires_at, Some(t + Duration::days(365)));
        let by_key = LicenseFilter { q: Some(d.key.expose().to_owned()), ..Default::default() };
        let (found, _) = db.licenses(&by_key, Page::default()).unwrap();
        assert_eq!(found.iter().map(|v| v.license.id).collect::<Vec<_>>(), vec![l.id]);
        let more = demo::mint_more(db, &admin(), t, &d, 501).unwrap();
        assert_eq!(more.len(), 501, "two batches");
        let theirs = LicenseFilter { customer: Some(d.customer.id), ..Default::default() };
        assert_eq!(db.licenses(&theirs, Page::default()).unwrap().1, 502);
    }
}

both_backends! {
    fn spread_demo_licenses_go_ten_to_a_customer_and_the_rest_stay_available(db) {
        let t = now();
        let d = demo::seed(db, &admin(), t).unwrap();
        demo::mint_spread(db, &admin(), t, &d, 25, 2).unwrap();
        let status = |s| LicenseFilter { status: Some(s), ..Default::default() };
        assert_eq!(db.licenses(&status(LicenseStatus::Available), Page::default()).unwrap().1, 5);
        assert_eq!(db.licenses(&status(LicenseStatus::Assigned), Page::default()).unwrap().1, 1 + 20);
        let (customers, _) = db.customers(Some("Customer"), Page::default()).unwrap();
        assert_eq!(customers.len(), 2 + 1, "two new customers besides the demo's");
    }
}
