-- SPEC §5: key digests become HMAC-SHA-256 under a per-environment key. Rows written before this
-- migration carry the unkeyed SHA-256 (version 1); the store re-digests them from their sealed
-- key when it opens. New rows are version 2.
ALTER TABLE licenses ADD COLUMN key_digest_version INTEGER NOT NULL DEFAULT 2;
UPDATE licenses SET key_digest_version = 1;
-- Rows still to re-digest, found without a scan (empty once they are done, so every later start
-- checks in no time).
CREATE INDEX licenses_old_digests ON licenses(id) WHERE key_digest_version < 2;
