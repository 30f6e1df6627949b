//! The mail worker (SPEC §14): on a thread of its own, every second, in every environment, it
//! turns new outbox events into mail deliveries, then claims due deliveries a batch at a time,
//! renders each with the environment's templates, sends it through the SMTP relay and records
//! the batch's attempts in one transaction. Never on a request path; safe with several
//! instances (claims); a crash between sending and recording re-sends at most that batch.

use std::sync::Arc;
use std::time::Duration;

use license_store::mail::{MailAttempt, OutgoingMail};
use time::OffsetDateTime;

use crate::environments::{Environment, Environments};
use crate::mailer::{Mailer, SENDERS};

/// Time between two passes when there is nothing to send.
pub const TICK: Duration = Duration::from_secs(1);
/// Events turned into mail per pass and environment.
const FAN_OUT_BATCH: i64 = 500;
/// Mails claimed, sent and recorded together.
const SEND_BATCH: i64 = 96;

/// How long a claimed mail is left to this worker before another may try it.
const CLAIM_LEASE: time::Duration = time::Duration::seconds(120);
/// Claims of a batch still being sent are renewed after this long.
const RENEW_AFTER: Duration = Duration::from_secs(60);

/// The portal's address in environment `env` (for the `portal_url` placeholder).
pub fn portal_url(public_validation_url: &str, env: &str) -> String {
    format!("{public_validation_url}/portal/{env}/")
}

/// Renders and sends one claimed mail.
fn send_one(env: &Environment, mailer: &Mailer, mail: &OutgoingMail) -> MailAttempt {
    let Some(vars) = &mail.vars else {
        return MailAttempt::gone();
    };
    let rendered = env
        .settings()
        .and_then(|s| s.mail_templates.get(mail.kind).render(mail.kind, vars));
    match rendered {
        Ok(m) => mailer.attempt(&mail.recipient, &m),
        Err(e) => {
            tracing::warn!(environment = env.name(), error = %e, "mail: cannot render");
            MailAttempt {
                latency_ms: 0,
                error: Some("template".into()),
                permanent: false,
            }
        }
    }
}

/// Sends `chunk` one mail after another. A slow relay must not let the claim on the rest lapse
/// (another instance would send them again): it is renewed whenever half the lease has passed.
fn send_chunk(
    env: &Environment,
    mailer: &Mailer,
    chunk: &[OutgoingMail],
    clock: &(dyn Fn() -> OffsetDateTime + Sync),
) -> Vec<(uuid::Uuid, MailAttempt)> {
    let mut renewed = std::time::Instant::now();
    let mut results = Vec::with_capacity(chunk.len());
    for (i, m) in chunk.iter().enumerate() {
        if renewed.elapsed() > RENEW_AFTER {
            let rest: Vec<_> = chunk[i..].iter().map(|m| m.id).collect();
            if let Err(e) = env.store().renew_mail_claims(clock(), CLAIM_LEASE, &rest) {
                tracing::warn!(environment = env.name(), error = %e, "mail: cannot renew claims");
                break;
            }
            renewed = std::time::Instant::now();
        }
        results.push((m.id, send_one(env, mailer, m)));
    }
    results
}

/// One pass over environment `env`, reading the time from `clock`: fan out, then send until
/// nothing is due. Returns the mails attempted.
pub fn pass(
    env: &Environment,
    mailer: &Mailer,
    public_validation_url: &str,
    clock: &(dyn Fn() -> OffsetDateTime + Sync),
) -> usize {
    let store = env.store();
    let now = clock();
    loop {
        match store.fan_out_mail(now, FAN_OUT_BATCH) {
            Ok(n) if n == FAN_OUT_BATCH as usize => continue,
            Ok(_) => break,
            Err(e) => {
                tracing::warn!(environment = env.name(), error = %e, "mail: fan-out failed");
                break;
            }
        }
    }
    let portal = portal_url(public_validation_url, env.name());
    let mut attempted = 0;
    loop {
        let now = clock();
        let batch = match store.claim_mail(now, CLAIM_LEASE, SEND_BATCH, &portal) {
            Ok(b) if b.is_empty() => return attempted,
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(environment = env.name(), error = %e, "mail: claim failed");
                return attempted;
            }
        };
        // Senders share the batch: each SMTP transaction waits on the relay (and on TCP's
        // delayed ACK for the final dot, some 40 ms), so one connection alone caps throughput.
        let per_sender = batch.len().div_ceil(SENDERS);
        let results: Vec<_> = std::thread::scope(|scope| {
            let senders: Vec<_> = batch
                .chunks(per_sender)
                .map(|chunk| scope.spawn(|| send_chunk(env, mailer, chunk, clock)))
                .collect();
            senders
                .into_iter()
                .flat_map(|s| s.join().unwrap_or_default())
                .collect()
        });
        for (id, a) in &results {
            if let Some(error) = &a.error {
                tracing::info!(environment = env.name(), mail = %id, error, "mail not sent");
            }
        }
        attempted += results.len();
        if let Err(e) = store.record_mail_attempts(clock(), &results) {
            tracing::warn!(environment = env.name(), error = %e, "mail: cannot record attempts");
            return attempted;
        }
    }
}

/// Runs [`pass`] over every environment on a thread of its own, resting [`TICK`] when a pass
/// found nothing to send.
pub fn spawn(envs: Environments, mailer: Arc<Mailer>, public_validation_url: String) {
    std::thread::spawn(move || {
        loop {
            let sent: usize = envs
                .iter()
                .map(|env| {
                    pass(
                        env,
                        &mailer,
                        &public_validation_url,
                        &OffsetDateTime::now_utc,
                    )
                })
                .sum();
            if sent == 0 {
                std::thread::sleep(TICK);
            }
        }
    });
}
