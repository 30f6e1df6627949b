-- `license.expiring_soon` reminders sent, so each goes out once per license, window (30, 14 or
-- 7 days) and expiry date, across restarts and instances. A new expiry date starts afresh.
CREATE TABLE expiry_reminders (
    license_id TEXT NOT NULL REFERENCES licenses(id) ON DELETE CASCADE,
    days INTEGER NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP NOT NULL,
    PRIMARY KEY (license_id, days, expires_at)
);
