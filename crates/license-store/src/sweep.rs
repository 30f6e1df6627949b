//! Time-driven lifecycle work of the background worker (SPEC §9): the expiry sweeper,
//! `license.expiring_soon` reminders, and audit retention. Each step is idempotent and takes a
//! bounded batch, so a crash at any point is finished by the next run without duplicates.

use diesel::prelude::*;
use license_core::LicenseStatus;
use serde_json::json;
use time::{Duration, OffsetDateTime};

use crate::Store;
use crate::audit::{self, Actor, details};
use crate::error::StoreResult;
use crate::license_rows::{expire_locked, lock_license};
use crate::model::{expiry_from_db, to_db};
use crate::schema::{audit_entries, expiry_reminders, licenses};

/// Reminder windows, in days before expiry.
pub const REMINDER_DAYS: [i32; 3] = [30, 14, 7];

/// Sends one reminder inside a write transaction, re-checking under the row lock (another
/// instance may have sent it, or the license changed). Returns 1 if it emitted the event.
fn remind(
    c: &mut crate::db::DbConn,
    now: OffsetDateTime,
    id: &str,
    expires: time::PrimitiveDateTime,
    window: i32,
) -> StoreResult<usize> {
    let l = lock_license(c, id)?;
    if !live_ranks().contains(&l.status_rank) || l.expires_at != expires {
        return Ok(0);
    }
    let Some(exp) = expiry_from_db(expires) else {
        return Ok(0);
    };
    let done: Vec<i32> = expiry_reminders::table
        .filter(expiry_reminders::license_id.eq(id))
        .filter(expiry_reminders::expires_at.eq(expires))
        .select(expiry_reminders::days)
        .load(c)?;
    if done.contains(&window) {
        return Ok(0);
    }
    for d in REMINDER_DAYS
        .iter()
        .filter(|d| **d >= window && !done.contains(d))
    {
        diesel::insert_into(expiry_reminders::table)
            .values((
                expiry_reminders::license_id.eq(id),
                expiry_reminders::days.eq(*d),
                expiry_reminders::expires_at.eq(expires),
                expiry_reminders::sent_at.eq(to_db(now)),
            ))
            .execute(c)?;
    }
    let data = details(json!({
        "license_id": id,
        "product_id": l.product_id,
        "customer_id": l.customer_id,
        "key_display": l.key_display,
        "expires_at": exp.unix_timestamp(),
        "days": window,
    }));
    audit::emit(c, now, "license.expiring_soon", Some(id), data)?;
    Ok(1)
}

/// States that can still expire (SPEC §4).
fn live_ranks() -> [i16; 4] {
    [
        LicenseStatus::Assigned,
        LicenseStatus::Active,
        LicenseStatus::Inactive,
        LicenseStatus::Suspended,
    ]
    .map(|s| i16::from(s.lifecycle_rank()))
}

/// Audit entries younger than this many days are never purged if they record a reveal, an
/// offline file, an exact-key search, a token or a settings change (SPEC §3, issue 17 §6).
pub const PROTECTED_DAYS: i64 = 365;
/// The protected actions named one by one (tokens and settings are matched by prefix).
const PROTECTED_ACTIONS: &[&str] = &[
    "license.revealed",
    "license.offline_file_issued",
    "license.key_searched",
];

impl Store {
    /// Expires up to `limit` licenses past `expires_at + grace`, each in its own transaction with
    /// its audit entry (actor `sweeper`) and `license.expired` event. Returns how many it expired.
    pub fn sweep_expired(
        &self,
        now: OffsetDateTime,
        grace: Duration,
        limit: i64,
    ) -> StoreResult<usize> {
        let due: Vec<String> = licenses::table
            .filter(licenses::status_rank.eq_any(live_ranks()))
            .filter(licenses::expires_at.le(to_db(now - grace)))
            .select(licenses::id)
            .order(licenses::expires_at.asc())
            .limit(limit)
            .load(&mut *self.conn()?)?;
        let actor = Actor::named("sweeper", "sweeper");
        let mut expired = 0;
        for id in due {
            if self.write(|c| expire_locked(c, &actor, now, &id, grace))? {
                expired += 1;
            }
        }
        Ok(expired)
    }

    /// Emits `license.expiring_soon` for licenses expiring within 30, 14 or 7 days, once per
    /// license, window and expiry date. Narrow windows go first, and a reminder also marks the
    /// wider windows as passed, so a license first seen 5 days before expiry gets one event (7),
    /// not three. Takes at most `limit` licenses per window. Returns the events emitted.
    pub fn send_expiry_reminders(&self, now: OffsetDateTime, limit: i64) -> StoreResult<usize> {
        let mut sent = 0;
        for window in REMINDER_DAYS.iter().rev().copied() {
            let until = to_db(now + Duration::days(i64::from(window)));
            let due: Vec<(String, time::PrimitiveDateTime)> = licenses::table
                .filter(licenses::status_rank.eq_any(live_ranks()))
                .filter(licenses::expires_at.gt(to_db(now)))
                .filter(licenses::expires_at.le(until))
                .filter(diesel::dsl::not(diesel::dsl::exists(
                    expiry_reminders::table
                        .filter(expiry_reminders::license_id.eq(licenses::id))
                        .filter(expiry_reminders::expires_at.eq(licenses::expires_at))
                        .filter(expiry_reminders::days.eq(window)),
                )))
                .select((licenses::id, licenses::expires_at))
                .order(licenses::expires_at.asc())
                .limit(limit)
                .load(&mut *self.conn()?)?;
            for (id, expires) in due {
                sent += self.write(|c| remind(c, now, &id, expires, window))?;
            }
        }
        Ok(sent)
    }

    /// Deletes audit entries older than `retention_days`, except deletion entries (kept for
    /// ever) and, whatever the setting, the security-relevant ones younger than
    /// [`PROTECTED_DAYS`]: reveals, previews' offline files, key searches, tokens, settings.
    /// Returns how many it deleted.
    pub fn purge_audit(&self, now: OffsetDateTime, retention_days: u32) -> StoreResult<usize> {
        let cutoff = to_db(now - Duration::days(i64::from(retention_days)));
        let protected_cutoff = to_db(now - Duration::days(PROTECTED_DAYS));
        let mut c = self.conn()?;
        let mut purged = diesel::delete(
            audit_entries::table
                .filter(audit_entries::at.lt(cutoff))
                .filter(audit_entries::action.not_like("%.deleted"))
                .filter(audit_entries::action.ne_all(PROTECTED_ACTIONS))
                .filter(audit_entries::action.not_like("token.%"))
                .filter(audit_entries::action.not_like("settings.%")),
        )
        .execute(&mut *c)?;
        // The protected ones go only once they are older than both limits.
        let both = cutoff.min(protected_cutoff);
        purged += diesel::delete(
            audit_entries::table
                .filter(audit_entries::at.lt(both))
                .filter(audit_entries::action.not_like("%.deleted")),
        )
        .execute(&mut *c)?;
        Ok(purged)
    }
}
