//! Bulk minting in batches and jobs.

use std::collections::HashSet;

use license_store::Page;
use license_store::StoreError;
use license_store::mint::{Batch, MintParams};
use license_store::search::LicenseFilter;

use license_store::both_backends;
use license_store::testkit::*;

both_backends! {
    fn a_batch_mints_up_to_500_with_one_event_each(db) {
        let f = Fixture::new(db);
        let before = log_counts(db);
        let batch = Batch { generator_id: f.generator.id, customer_id: None, job: None, count: 500 };
        let minted = db.mint_batch(&admin(), now(), &batch).unwrap();
        assert_eq!(minted.len(), 500);
        let keys: HashSet<&str> = minted.iter().map(|(_, k)| k.expose()).collect();
        assert_eq!(keys.len(), 500);
        assert_eq!(log_counts(db), (before.0 + 1, before.1 + 500));
        let too_many = Batch { count: 501, ..batch };
        assert!(matches!(db.mint_batch(&admin(), now(), &too_many), Err(StoreError::Invalid { field: "count", .. })));
        let (_, total) = db.licenses(&LicenseFilter::default(), Page::default()).unwrap();
        assert_eq!(total, 500);
    }
}

both_backends! {
    fn a_job_mints_every_sequence_number_once(db) {
        let f = Fixture::new(db);
        let params = MintParams { generator_id: f.generator.id, customer_id: Some(f.customer.id), count: 1_234 };
        let job = db.create_mint_job(&admin(), now(), params).unwrap();
        assert_eq!((job.status.as_str(), job.done), ("queued", 0));
        let done = db.run_mint_job(&admin(), job.id, now).unwrap();
        assert_eq!((done.status.as_str(), done.done, done.total), ("completed", 1_234, 1_234));
        let keys = db.job_keys(job.id).unwrap();
        let seqs: Vec<i64> = keys.iter().map(|(s, _, _)| *s).collect();
        assert_eq!(seqs, (0..1_234).collect::<Vec<_>>());
        let distinct: HashSet<&str> = keys.iter().map(|(_, _, k)| k.expose()).collect();
        assert_eq!(distinct.len(), 1_234);
        // Running a finished job again mints nothing.
        db.run_mint_job(&admin(), job.id, now).unwrap();
        assert_eq!(db.job_keys(job.id).unwrap().len(), 1_234);
        let over = MintParams { generator_id: f.generator.id, customer_id: None, count: 100_001 };
        assert!(db.create_mint_job(&admin(), now(), over).is_err());
    }
}

both_backends! {
    fn a_job_is_claimed_by_one_worker_until_its_claim_lapses(db) {
        let f = Fixture::new(db);
        let params = MintParams { generator_id: f.generator.id, customer_id: None, count: 10 };
        let job = db.create_mint_job(&admin(), now(), params).unwrap();
        let t = now();
        assert_eq!(db.claim_next_job(t).unwrap().map(|j| j.id), Some(job.id));
        assert!(db.claim_next_job(t).unwrap().is_none(), "held by the first worker");
        let lapsed = t + license_store::mint::JOB_LEASE + time::Duration::seconds(1);
        assert_eq!(db.reopen().claim_next_job(lapsed).unwrap().map(|j| j.id), Some(job.id), "a dead worker's job is picked up");
        db.run_mint_job(&admin(), job.id, now).unwrap();
        assert!(db.claim_next_job(lapsed + time::Duration::hours(1)).unwrap().is_none(), "nothing left once completed");
    }
}
