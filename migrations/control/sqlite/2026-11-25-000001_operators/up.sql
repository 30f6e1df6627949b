-- The control database (SPEC §11): operators, their role in each environment, sessions,
-- one-time links (first-operator setup, invitations, password resets) and the control audit.
CREATE TABLE operators (
    id TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL,
    email_lower TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    -- Argon2id PHC string; NULL until an invited operator sets a password.
    password_hash TEXT,
    -- TOTP secrets sealed with the master key (AES-256-GCM bound to the operator id).
    totp_secret BLOB,
    totp_pending BLOB,
    -- The last TOTP time step accepted: a code is never accepted twice.
    totp_last_step BIGINT,
    disabled BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    last_login_at TIMESTAMP
);

CREATE TABLE operator_roles (
    operator_id TEXT NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    environment TEXT NOT NULL,
    role TEXT NOT NULL,
    PRIMARY KEY (operator_id, environment)
);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY NOT NULL,
    -- SHA-256 of the cookie's secret: the secret itself is never stored.
    secret_digest BLOB NOT NULL UNIQUE,
    operator_id TEXT NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    reauth_at TIMESTAMP NOT NULL,
    ip TEXT
);
CREATE INDEX sessions_operator ON sessions (operator_id);

CREATE TABLE one_time_links (
    secret_digest BLOB PRIMARY KEY NOT NULL,
    purpose TEXT NOT NULL,
    operator_id TEXT REFERENCES operators (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);

CREATE TABLE control_audit (
    id TEXT PRIMARY KEY NOT NULL,
    at TIMESTAMP NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target_id TEXT,
    details TEXT NOT NULL,
    request_id TEXT NOT NULL,
    ip TEXT
);
CREATE INDEX control_audit_at ON control_audit (at);
