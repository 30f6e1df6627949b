DROP TABLE portal_sessions;
DROP TABLE portal_links;
ALTER TABLE customers DROP COLUMN portal_signed_in_at;
ALTER TABLE customers DROP COLUMN portal_access;
DROP TABLE mail_attempts;
DROP TABLE mail_deliveries;
DROP INDEX events_unmailed;
ALTER TABLE events DROP COLUMN mailed;
