ALTER TABLE licenses DROP COLUMN key_digest_version;
