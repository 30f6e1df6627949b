-- Same name as the PostgreSQL migration, which adds a trigram index for customer search.
-- SQLite has no trigram index outside FTS5; nothing to do here.
SELECT 1;
