//! The license list of SPEC §8: every filter, the search, every sort, totals and pages — in SQL.

use license_core::LicenseStatus;
use license_store::Page;
use license_store::customers::NewCustomer;
use license_store::licenses::LicenseAction;
use license_store::model::LicenseView;
use license_store::products::NewProduct;
use license_store::search::{LicenseFilter, LicenseSort};
use time::Duration;

use license_store::both_backends;
use license_store::testkit::*;

fn ids(items: &[LicenseView]) -> Vec<uuid::Uuid> {
    items.iter().map(|v| v.license.id).collect()
}

fn list(db: &license_store::Store, f: LicenseFilter) -> (Vec<LicenseView>, i64) {
    db.licenses(&f, Page::new(500, 0).unwrap()).unwrap()
}

fn q(s: &str) -> LicenseFilter {
    LicenseFilter {
        q: Some(s.into()),
        ..Default::default()
    }
}

both_backends! {
    fn search_finds_by_key_email_domain_names_and_nothing_else(db) {
        let f = Fixture::new(db);
        let t = now();
        let grace = db
            .create_customer(&admin(), t, NewCustomer { name: "Grace Hopper".into(), email: "grace@navy.example.org".into(), metadata: None })
            .unwrap();
        let mut n = f.new_license();
        n.customer_id = Some(grace.id);
        let navy = db.create_license(&admin(), t, n).unwrap();
        let ada = f.assigned(db, 1);
        let loose = f.available(db);
        let other_product = db.create_product(&admin(), t, NewProduct { name: "Zeta Suite".into(), code: "ZETA".into(), metadata: None }).unwrap();
        let zeta_gen = db.create_generator(&admin(), t, license_store::generators::NewGenerator {
            product_id: other_product.id, name: "z".into(), format: license_core::KeyFormat::Uuid {},
            default_activation_limit: None, default_validity_days: None, expiry_basis: None,
            default_feature_flags: None, lease_ttl_seconds: None,
        }).unwrap();
        let mut zn = f.new_license();
        zn.product_id = other_product.id;
        zn.generator_id = zeta_gen.id;
        let zeta = db.create_license(&admin(), t, zn).unwrap();

        assert_eq!(ids(&list(db, q("navy.example")).0), [navy.license.license.id], "email domain");
        assert_eq!(ids(&list(db, q("HOPPER")).0), [navy.license.license.id], "customer name, any case");
        assert_eq!(ids(&list(db, q("zeta")).0), [zeta.license.license.id], "product name");
        let full = list(db, q(&key_of(&loose).to_lowercase()));
        assert_eq!((ids(&full.0), full.1), (vec![loose.license.license.id], 1), "full key by digest");
        let prefix = &key_of(&ada)[..8];
        assert!(ids(&list(db, q(prefix)).0).contains(&ada.license.license.id), "key prefix");
        let last4 = ada.key.last4().to_owned();
        assert!(ids(&list(db, q(&last4)).0).contains(&ada.license.license.id), "last 4");
        assert_eq!(list(db, q("nobody-matches-this")).1, 0);
        assert_eq!(list(db, q("100%_")).1, 0, "LIKE wildcards are literal");
    }
}

both_backends! {
    fn filters_sorts_and_pages_work_together(db) {
        let f = Fixture::new(db);
        let t = now();
        let mut made = Vec::new();
        for i in 0..6 {
            let mut n = f.new_license();
            if i % 2 == 0 {
                n.customer_id = Some(f.customer.id);
            }
            n.expires_at = (i < 4).then(|| t + Duration::days(10 + i));
            made.push(db.create_license(&admin(), t, n).unwrap().license.license);
        }
        db.act(&admin(), t, made[4].id, LicenseAction::Revoke).unwrap();

        let by_status = |s| list(db, LicenseFilter { status: Some(s), ..Default::default() }).1;
        assert_eq!((by_status(LicenseStatus::Assigned), by_status(LicenseStatus::Available), by_status(LicenseStatus::Revoked)), (2, 3, 1));
        let mine = list(db, LicenseFilter { customer: Some(f.customer.id), ..Default::default() });
        assert_eq!(mine.1, 3, "revoked licenses keep their customer");
        let soon = list(db, LicenseFilter { expires_before: Some(t + Duration::days(12)), ..Default::default() });
        assert_eq!(ids(&soon.0).len(), 2);
        let later = list(db, LicenseFilter { expires_after: Some(t + Duration::days(11)), ..Default::default() });
        assert_eq!(later.1, 2);

        let expires_asc = list(db, LicenseFilter { product: Some(f.product.id), sort: LicenseSort::Expires, ..Default::default() }).0;
        let dates: Vec<_> = expires_asc.iter().map(|v| v.license.expires_at).collect();
        assert!(dates[..4].iter().all(Option::is_some) && dates[4..].iter().all(Option::is_none), "lifetime last on asc: {dates:?}");
        assert!(dates[..4].windows(2).all(|w| w[0] <= w[1]));
        let expires_desc = list(db, LicenseFilter { sort: LicenseSort::Expires, desc: true, ..Default::default() }).0;
        assert!(expires_desc[0].license.expires_at.is_none(), "lifetime first on desc");

        let by_status_sort = list(db, LicenseFilter { sort: LicenseSort::Status, ..Default::default() }).0;
        let ranks: Vec<u8> = by_status_sort.iter().map(|v| v.license.status.lifecycle_rank()).collect();
        assert!(ranks.windows(2).all(|w| w[0] <= w[1]), "status in lifecycle order: {ranks:?}");

        let created = list(db, LicenseFilter::default()).0;
        assert_eq!(ids(&created), made.iter().map(|l| l.id).collect::<Vec<_>>(), "created ascending by default");
        let page = db.licenses(&LicenseFilter { desc: true, ..Default::default() }, Page::new(2, 1).unwrap()).unwrap();
        assert_eq!(page.1, 6);
        assert_eq!(ids(&page.0), [made[4].id, made[3].id]);
        for sort in [LicenseSort::Key, LicenseSort::Product, LicenseSort::Customer, LicenseSort::Activations] {
            for desc in [false, true] {
                let (items, total) = list(db, LicenseFilter { sort, desc, ..Default::default() });
                assert_eq!((items.len(), total), (6, 6), "{sort:?} {desc}");
            }
        }
    }
}

both_backends! {
    fn sorting_by_customer_or_product_follows_their_names_through_assignment_and_renames(db) {
        let f = Fixture::new(db);
        let names = |sort| -> Vec<String> {
            db.licenses(&LicenseFilter { sort, ..Default::default() }, Page::default()).unwrap().0.iter()
                .map(|v| v.customer.as_ref().map_or(String::new(), |c| c.name.clone())).collect()
        };
        let zed = db.create_customer(&admin(), now(), NewCustomer { name: "Zed".into(), email: "zed@example.com".into(), metadata: None }).unwrap();
        let amy = db.create_customer(&admin(), now(), NewCustomer { name: "Amy".into(), email: "amy@example.com".into(), metadata: None }).unwrap();
        let a = f.available(db);
        let b = f.available(db);
        f.available(db);
        db.act(&admin(), now(), a.license.license.id, LicenseAction::Assign { customer_id: zed.id }).unwrap();
        db.act(&admin(), now(), b.license.license.id, LicenseAction::Assign { customer_id: amy.id }).unwrap();
        assert_eq!(names(LicenseSort::Customer), ["", "Amy", "Zed"], "unassigned first, then by name");
        db.update_customer(&admin(), now(), amy.id, license_store::customers::CustomerPatch { name: Some("Zoe".into()), ..Default::default() }).unwrap();
        assert_eq!(names(LicenseSort::Customer), ["", "Zed", "Zoe"], "a rename moves the customer's licenses");
        let other = db.create_product(&admin(), now(), NewProduct { name: "Aardvark".into(), code: "AARD".into(), metadata: None }).unwrap();
        let by_product = |desc| -> Vec<uuid::Uuid> {
            db.licenses(&LicenseFilter { sort: LicenseSort::Product, desc, ..Default::default() }, Page::default()).unwrap().0.iter().map(|v| v.product.id).collect()
        };
        assert!(by_product(false).iter().all(|p| *p == f.product.id));
        let g = db.create_generator(&admin(), now(), license_store::generators::NewGenerator { product_id: other.id, name: "g".into(), format: chunked(), default_activation_limit: None, default_validity_days: None, expiry_basis: None, default_feature_flags: None, lease_ttl_seconds: None }).unwrap();
        db.create_license(&admin(), now(), license_store::licenses::NewLicense { product_id: other.id, generator_id: g.id, customer_id: None, activation_limit: None, expires_at: None, feature_flags: None, metadata: None }).unwrap();
        assert_eq!(by_product(false)[0], other.id, "Aardvark sorts first");
        db.update_product(&admin(), now(), other.id, license_store::products::ProductPatch { name: Some("Zebra".into()), ..Default::default() }).unwrap();
        assert_eq!(by_product(true)[0], other.id, "renamed to Zebra: first descending");
    }
}
