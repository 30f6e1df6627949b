-- Substring search over customers (name and email, SPEC §8 `q`) without a scan: a trigram index.
-- pg_trgm ships with PostgreSQL and is a trusted extension (PostgreSQL 13+), so the database
-- owner may create it. SQLite has no equivalent; its scan of the customers table is fast enough.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX customers_search_trgm ON customers USING gin (search_text gin_trgm_ops);
