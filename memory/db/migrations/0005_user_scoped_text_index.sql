-- Full-text search scoped to one user in the index itself: without it a common word makes Postgres
-- rank the matches of every user before filtering (seconds on a shared table). btree_gin ships with
-- Postgres' contrib modules.
CREATE EXTENSION IF NOT EXISTS btree_gin;
CREATE INDEX IF NOT EXISTS memories_user_tsv_idx ON memories USING gin (user_id, tsv);
DROP INDEX IF EXISTS memories_tsv_idx;
