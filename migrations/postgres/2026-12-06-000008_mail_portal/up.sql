-- SPEC §14: email from the outbox, and the customer portal.

-- Events written from now on are mailed (where an email template wants them); those already in
-- the outbox are not: an upgrade must not send a customer a month of old notices.
ALTER TABLE events ADD COLUMN mailed BOOLEAN NOT NULL DEFAULT TRUE;
CREATE INDEX events_unmailed ON events(id) WHERE mailed = FALSE;

-- One email to one recipient: for an outbox event (at most one per event and recipient) or a
-- portal sign-in link (no event). The payload (the sign-in link) is sealed with the master key
-- and wiped once the mail is sent; a license key is read from the license when the mail is
-- rendered, never copied here.
CREATE TABLE mail_deliveries (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    event_id TEXT REFERENCES events(id),
    license_id TEXT,
    customer_id TEXT,
    recipient TEXT NOT NULL,
    payload_sealed BYTEA,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP
);
CREATE UNIQUE INDEX mail_deliveries_event_recipient ON mail_deliveries(event_id, recipient);
CREATE INDEX mail_deliveries_due ON mail_deliveries(status, next_attempt_at);
CREATE INDEX mail_deliveries_customer ON mail_deliveries(customer_id, created_at);

CREATE TABLE mail_attempts (
    id TEXT PRIMARY KEY NOT NULL,
    delivery_id TEXT NOT NULL REFERENCES mail_deliveries(id) ON DELETE CASCADE,
    at TIMESTAMP NOT NULL,
    latency_ms INTEGER NOT NULL,
    error TEXT
);
CREATE INDEX mail_attempts_delivery ON mail_attempts(delivery_id, at);

-- An operator can take a customer's portal access away (and give it back).
ALTER TABLE customers ADD COLUMN portal_access BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE customers ADD COLUMN portal_signed_in_at TIMESTAMP;

-- Single-use sign-in links (SHA-256 of the secret; the secret only ever travels in the email).
CREATE TABLE portal_links (
    secret_digest BYTEA PRIMARY KEY NOT NULL,
    customer_id TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX portal_links_customer ON portal_links(customer_id, created_at);

-- Signed-in customers (SHA-256 of the cookie's secret).
CREATE TABLE portal_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    secret_digest BYTEA NOT NULL UNIQUE,
    customer_id TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    ip TEXT
);
CREATE INDEX portal_sessions_customer ON portal_sessions(customer_id);
