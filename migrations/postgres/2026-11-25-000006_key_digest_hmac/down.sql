DROP INDEX licenses_old_digests;
ALTER TABLE licenses DROP COLUMN key_digest_version;
