//! The lifecycle worker of SPEC §9: every 30 s, in every environment, the expiry sweeper and the
//! expiring-soon reminders; once a day, audit retention; and webhook delivery beside it. The
//! steps are in `license_store::{sweep, delivery}`, idempotent and safe with several instances.
//! Off with `KEYSMITH_WORKER=off`. (Abuse detection runs in the validation service: `abuse`.)

use std::collections::HashMap;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use crate::environments::Environments;

/// Time between two passes.
pub const TICK: Duration = Duration::from_secs(30);
/// Licenses handled per step and pass (a large backlog drains over several passes).
pub const BATCH: i64 = 500;
const PURGE_EVERY: Duration = Duration::from_secs(24 * 3600);
/// Sent and failed mail stays listed this long.
const MAIL_KEPT: time::Duration = time::Duration::days(90);

/// One pass over every environment at `now`; `last_purge` remembers the daily purge.
pub fn pass(envs: &Environments, now: OffsetDateTime, last_purge: &mut HashMap<String, Instant>) {
    for env in envs.iter() {
        let name = env.name().to_owned();
        let settings = match env.settings() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(environment = %name, error = %e, "worker: cannot read settings");
                continue;
            }
        };
        match env.store().sweep_expired(now, settings.grace(), BATCH) {
            Ok(0) => {}
            Ok(n) => tracing::info!(environment = %name, expired = n, "sweeper expired licenses"),
            Err(e) => tracing::warn!(environment = %name, error = %e, "sweeper failed"),
        }
        match env.store().send_expiry_reminders(now, BATCH) {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(environment = %name, reminders = n, "expiring-soon events emitted")
            }
            Err(e) => tracing::warn!(environment = %name, error = %e, "reminders failed"),
        }
        let due = last_purge
            .get(&name)
            .is_none_or(|t| t.elapsed() >= PURGE_EVERY);
        if due {
            match env.store().purge_audit(now, settings.audit_retention_days) {
                Ok(n) => {
                    last_purge.insert(name.clone(), Instant::now());
                    if n > 0 {
                        tracing::info!(environment = %name, purged = n, "audit retention purge");
                    }
                }
                Err(e) => tracing::warn!(environment = %name, error = %e, "audit purge failed"),
            }
            // Used and expired portal links and sessions, and mail that ended long ago.
            let portal = env.store().purge_portal(now);
            let mail = env.store().purge_mail(now, MAIL_KEPT);
            for (what, r) in [("portal", portal), ("mail", mail)] {
                if let Err(e) = r {
                    tracing::warn!(environment = %name, error = %e, what, "purge failed");
                }
            }
        }
    }
}

/// Runs [`pass`] every [`TICK`] on a thread of its own, and the webhook delivery worker
/// (`webhook_delivery::spawn`) under `policy`.
pub fn spawn(envs: Environments, policy: &crate::egress::WebhookPolicy) {
    let lifecycle = envs.clone();
    std::thread::spawn(move || {
        let mut last_purge = HashMap::new();
        loop {
            pass(&lifecycle, OffsetDateTime::now_utc(), &mut last_purge);
            std::thread::sleep(TICK);
        }
    });
    let deliverer = super::webhook_delivery::Deliverer::new(policy, Default::default());
    super::webhook_delivery::spawn(envs, std::sync::Arc::new(deliverer)).detach();
}
