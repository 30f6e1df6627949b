//! The mint-job worker: runs queued bulk-mint jobs of every environment, batch by batch, and
//! resumes the ones a stopped process left running once their claim lapses. Jobs are claimed
//! one at a time, so several instances share the queue (see `Store::run_mint_job`).

use std::time::Duration;

use license_store::Actor;
use time::OffsetDateTime;

use crate::environments::Environments;

/// Starts the worker thread; it runs for the life of the process.
pub fn spawn(envs: Environments) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let actor = Actor::named("worker", "jobs");
        loop {
            let mut worked = false;
            for env in envs.iter() {
                match env.store().claim_next_job(OffsetDateTime::now_utc()) {
                    Ok(Some(job)) => {
                        worked = true;
                        match env
                            .store()
                            .run_mint_job(&actor, job.id, OffsetDateTime::now_utc)
                        {
                            Ok(j) => {
                                tracing::info!(environment = env.name(), job = %j.id, minted = j.done, "mint job completed")
                            }
                            Err(e) => {
                                tracing::error!(environment = env.name(), job = %job.id, error = %e, "mint job failed")
                            }
                        }
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(environment = env.name(), error = %e, "cannot claim a job")
                    }
                }
            }
            if !worked {
                std::thread::sleep(Duration::from_millis(300));
            }
        }
    })
}
