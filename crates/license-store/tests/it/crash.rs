//! Crash safety of bulk minting: a child process mints a job batch after batch and is killed
//! (SIGKILL) mid-run; the database then holds only whole batches, the job's committed progress
//! matches them, and resuming the job finishes it with no duplicate and no gap.
//!
//! The child is this same test binary, started with `KEYSMITH_CRASH_CHILD` naming the database
//! and job; in that mode the test body only mints until it is killed.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use license_store::mint::MintParams;
use license_store::{Actor, Store};

use license_store::testkit::*;

const CHILD_ENV: &str = "KEYSMITH_CRASH_CHILD";
const JOB_SIZE: i64 = 20_000;

fn child_mode() -> Option<(String, uuid::Uuid)> {
    let v = std::env::var(CHILD_ENV).ok()?;
    let (url, job) = v.rsplit_once('|')?;
    Some((url.to_owned(), job.parse().ok()?))
}

fn run_child(url: &str, job: uuid::Uuid) {
    let store = Store::open("test", url, &master()).unwrap();
    // Mints until killed (a 20,000-key job takes far longer than the parent waits).
    let _ = store.run_mint_job(&Actor::named("child", "crash"), job, now);
}

fn kill_mid_job_then_resume(db: &TestDb, test_name: &str) {
    let f = Fixture::new(db);
    let params = MintParams {
        generator_id: f.generator.id,
        customer_id: None,
        count: JOB_SIZE,
    };
    let job = db.create_mint_job(&admin(), now(), params).unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test_name, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, format!("{}|{}", db.url, job.id))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until a few batches are in, then kill without warning.
    let start = Instant::now();
    loop {
        let done = db.job(job.id).unwrap().done;
        if done >= 1_500 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "child made no progress (done = {done})"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let store = db.reopen();
    let after_crash = store.job(job.id).unwrap();
    let keys = store.job_keys(job.id).unwrap();
    assert!(
        after_crash.done < JOB_SIZE,
        "the child was killed before the end"
    );
    assert_eq!(
        keys.len() as i64,
        after_crash.done,
        "licenses match the committed progress"
    );
    assert_eq!(after_crash.done % 500, 0, "only whole batches are visible");

    let finished = store.run_mint_job(&admin(), job.id, now).unwrap();
    assert_eq!(
        (finished.status.as_str(), finished.done),
        ("completed", JOB_SIZE)
    );
    let keys = store.job_keys(job.id).unwrap();
    let seqs: Vec<i64> = keys.iter().map(|(s, _, _)| *s).collect();
    assert_eq!(
        seqs,
        (0..JOB_SIZE).collect::<Vec<_>>(),
        "no duplicate, no gap"
    );
}

#[test]
fn sqlite_killed_mid_bulk_mint_leaves_whole_batches_and_resumes() {
    if let Some((url, job)) = child_mode() {
        return run_child(&url, job);
    }
    let db = TestDb::sqlite();
    kill_mid_job_then_resume(
        &db,
        "crash::sqlite_killed_mid_bulk_mint_leaves_whole_batches_and_resumes",
    );
}

#[test]
fn postgres_killed_mid_bulk_mint_leaves_whole_batches_and_resumes() {
    if let Some((url, job)) = child_mode() {
        return run_child(&url, job);
    }
    let Some(db) = TestDb::postgres() else { return };
    kill_mid_job_then_resume(
        &db,
        "crash::postgres_killed_mid_bulk_mint_leaves_whole_batches_and_resumes",
    );
}
