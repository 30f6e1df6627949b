-- Keysmith schema, SQLite flavour. Ids are UUID text, JSON is text, times are UTC timestamps,
-- digests and ciphertexts are blobs. Kept column-for-column equal to migrations/postgres.

CREATE TABLE products (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    search_text TEXT NOT NULL,
    code TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    metadata TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE generators (
    id TEXT PRIMARY KEY NOT NULL,
    product_id TEXT NOT NULL REFERENCES products(id),
    name TEXT NOT NULL,
    format TEXT NOT NULL,
    default_activation_limit INTEGER NOT NULL,
    default_validity_days INTEGER,
    expiry_basis TEXT NOT NULL,
    default_feature_flags TEXT NOT NULL,
    lease_ttl_seconds INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX generators_product ON generators(product_id);

CREATE TABLE customers (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    email_lower TEXT NOT NULL UNIQUE,
    search_text TEXT NOT NULL,
    metadata TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE jobs (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    params TEXT NOT NULL,
    total BIGINT NOT NULL,
    done BIGINT NOT NULL,
    error TEXT,
    keys_downloaded BOOLEAN NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    claimed_until TIMESTAMP
);
CREATE INDEX jobs_status ON jobs(status, created_at);

CREATE TABLE licenses (
    id TEXT PRIMARY KEY NOT NULL,
    product_id TEXT NOT NULL REFERENCES products(id),
    generator_id TEXT NOT NULL REFERENCES generators(id),
    customer_id TEXT REFERENCES customers(id),
    status TEXT NOT NULL,
    status_rank SMALLINT NOT NULL,
    activation_limit INTEGER NOT NULL,
    activations_active INTEGER NOT NULL,
    ever_activated BOOLEAN NOT NULL,
    -- Lifetime licenses hold 9999-12-31 00:00:00 here (never NULL), so one index serves the
    -- expiry sort on both backends with lifetime after every dated license.
    expires_at TIMESTAMP NOT NULL,
    feature_flags TEXT NOT NULL,
    metadata TEXT NOT NULL,
    suspended_reason TEXT,
    reminted_from TEXT,
    reminted_to TEXT,
    first_activated_at TIMESTAMP,
    key_digest BLOB NOT NULL UNIQUE,
    key_ciphertext BLOB NOT NULL,
    key_prefix TEXT NOT NULL,
    key_last4 TEXT NOT NULL,
    key_display TEXT NOT NULL,
    job_id TEXT REFERENCES jobs(id),
    job_seq BIGINT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX licenses_product ON licenses(product_id, id);
CREATE INDEX licenses_customer ON licenses(customer_id, id);
CREATE INDEX licenses_status ON licenses(status_rank, id);
CREATE INDEX licenses_expires ON licenses(expires_at, id);
CREATE INDEX licenses_activations ON licenses(activations_active, id);
CREATE INDEX licenses_prefix ON licenses(key_prefix);
CREATE INDEX licenses_last4 ON licenses(key_last4);
CREATE UNIQUE INDEX licenses_job_seq ON licenses(job_id, job_seq);

CREATE TABLE activations (
    id TEXT PRIMARY KEY NOT NULL,
    license_id TEXT NOT NULL REFERENCES licenses(id) ON DELETE CASCADE,
    fingerprint TEXT NOT NULL,
    name TEXT,
    platform TEXT,
    ip TEXT,
    metadata TEXT NOT NULL,
    status TEXT NOT NULL,
    first_seen_at TIMESTAMP NOT NULL,
    last_validated_at TIMESTAMP NOT NULL,
    deactivated_at TIMESTAMP
);
CREATE INDEX activations_license ON activations(license_id, first_seen_at);
-- At most one active activation per (license, fingerprint), whatever the concurrency.
CREATE UNIQUE INDEX activations_one_active ON activations(license_id, fingerprint)
    WHERE status = 'active';

CREATE TABLE audit_entries (
    id TEXT PRIMARY KEY NOT NULL,
    at TIMESTAMP NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id TEXT NOT NULL,
    key_hint TEXT,
    details TEXT NOT NULL,
    request_id TEXT NOT NULL,
    ip TEXT
);
CREATE INDEX audit_target ON audit_entries(target_id, at);
CREATE INDEX audit_at ON audit_entries(at);
CREATE INDEX audit_action ON audit_entries(action, at);
CREATE INDEX audit_actor ON audit_entries(actor, at);

CREATE TABLE events (
    id TEXT PRIMARY KEY NOT NULL,
    event_type TEXT NOT NULL,
    license_id TEXT,
    data TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    fanned_out BOOLEAN NOT NULL
);
CREATE INDEX events_pending ON events(fanned_out, id);

CREATE TABLE settings (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE admin_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    token_digest BLOB NOT NULL UNIQUE,
    token_prefix TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP
);

CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY NOT NULL,
    public_key BLOB NOT NULL,
    private_sealed BLOB NOT NULL,
    status TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    retired_at TIMESTAMP
);

CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY NOT NULL,
    url TEXT NOT NULL,
    secret_sealed BLOB NOT NULL,
    events TEXT NOT NULL,
    enabled BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY NOT NULL,
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    event_id TEXT NOT NULL REFERENCES events(id),
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    last_status_code INTEGER,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX deliveries_due ON webhook_deliveries(status, next_attempt_at);

CREATE TABLE webhook_attempts (
    id TEXT PRIMARY KEY NOT NULL,
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    at TIMESTAMP NOT NULL,
    status_code INTEGER,
    latency_ms INTEGER NOT NULL,
    error TEXT
);
CREATE INDEX attempts_delivery ON webhook_attempts(delivery_id, at);
