-- Named threads (the CLI's --thread NAME), external ids (imported turns) and per-call usage.
ALTER TABLE threads ADD COLUMN IF NOT EXISTS name text;
CREATE UNIQUE INDEX IF NOT EXISTS threads_user_name_idx ON threads (user_id, name) WHERE name IS NOT NULL;

ALTER TABLE messages ADD COLUMN IF NOT EXISTS external_id text;
ALTER TABLE messages ADD COLUMN IF NOT EXISTS model text;
ALTER TABLE messages ADD COLUMN IF NOT EXISTS usage jsonb;
ALTER TABLE messages ADD COLUMN IF NOT EXISTS latency_ms double precision;
CREATE UNIQUE INDEX IF NOT EXISTS messages_thread_external_idx
    ON messages (thread_id, external_id) WHERE external_id IS NOT NULL;
