//! Keys at rest (SPEC §5): digests are HMAC-SHA-256 under the environment's digest key, the
//! display form shows no random head character, and a database written by the release before
//! (unkeyed SHA-256 digests, the old display form) is re-digested when a store opens — batched,
//! resumable after a kill, idempotent.

use diesel::prelude::*;
use license_core::{DigestKey, KeyDigest, KeyFormat, Outcome};
use license_store::schema::{generators, licenses};
use time::Duration;

use license_store::both_backends;
use license_store::testkit::*;

fn validates(store: &license_store::Store, key: &str) -> bool {
    let a = store
        .validate(&admin(), now(), key, None, None, Duration::ZERO)
        .unwrap();
    a.decision.outcome != Outcome::NotFound
}

/// Rewrites a license's key columns as the release before this one wrote them.
fn as_previous_release(db: &license_store::Store, id: &str, key: &str) {
    let mut c = db.conn().unwrap();
    let parts: Vec<&str> = key.split('-').collect();
    let old_display = format!("{}-{}-····-{}", parts[0], parts[1], &key[key.len() - 4..]);
    diesel::update(licenses::table.find(id))
        .set((
            licenses::key_digest.eq(KeyDigest::unkeyed(key).as_bytes().to_vec()),
            licenses::key_display.eq(old_display),
            licenses::key_digest_version.eq(1),
        ))
        .execute(&mut *c)
        .unwrap();
}

both_backends! {
    fn the_digest_at_rest_is_the_environments_hmac_not_sha256(db) {
        let f = Fixture::new(db);
        let lic = f.available(db);
        let key = key_of(&lic);
        let stored: Vec<u8> = licenses::table
            .find(lic.license.license.id.to_string())
            .select(licenses::key_digest)
            .first(&mut *db.conn().unwrap())
            .unwrap();
        let hmac = DigestKey::derive(&master(), db.env()).of_normalized(key);
        assert_eq!(stored, hmac.as_bytes().to_vec());
        assert_ne!(stored, KeyDigest::unkeyed(key).as_bytes().to_vec(), "a database copy alone gives nothing to brute-force");
        assert!(validates(db, key));
        assert!(validates(db, &key.to_lowercase()), "normalised before the digest");
    }
}

both_backends! {
    fn a_database_of_the_previous_release_is_re_digested_batched_resumably_and_once(db) {
        let f = Fixture::new(db);
        let minted: Vec<_> = (0..7).map(|_| f.available(db)).collect();
        for lic in &minted {
            as_previous_release(db, &lic.license.license.id.to_string(), key_of(lic));
        }
        // A generator made under the older 64-bit floor (75 bits) keeps minting, flagged weak.
        diesel::update(generators::table.find(f.generator.id.to_string()))
            .set(generators::format.eq(r#"{"kind":"chunked","chunks":3,"chunk_len":5,"check":true}"#))
            .execute(&mut *db.conn().unwrap())
            .unwrap();
        assert!(db.generator(f.generator.id).unwrap().weak);
        assert!(!minted.iter().any(|l| validates(db, key_of(l))), "old digests are not found by the HMAC lookup");

        // One batch of three, then a "kill": exactly the first three (by id) are upgraded.
        assert_eq!(db.upgrade_key_digests(3, Some(1)).unwrap(), 3);
        let upgraded: Vec<bool> = minted.iter().map(|l| validates(db, key_of(l))).collect();
        assert_eq!(upgraded, [true, true, true, false, false, false, false]);

        // The next start finishes the job; a later one finds nothing to do.
        let restarted = db.reopen();
        assert!(minted.iter().all(|l| validates(&restarted, key_of(l))));
        assert_eq!(restarted.upgrade_key_digests(500, None).unwrap(), 0, "idempotent");
        for lic in &minted {
            let view = restarted.license(lic.license.license.id).unwrap();
            assert_eq!(view.license.key_display, format!("{}-····-{}", f.product.code, lic.key.last4()));
        }
        let fresh = f.available(&restarted);
        assert!(validates(&restarted, key_of(&fresh)), "the weak generator still mints");
        let flagged = restarted.generator(f.generator.id).unwrap();
        assert!(flagged.weak && matches!(flagged.format, KeyFormat::Chunked { chunks: 3, .. }));
    }
}
