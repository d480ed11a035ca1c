-- Long-term memory: episodic turns and semantic facts with provenance, time, vectors and full text;
-- an audit trail of every change; the embedding model the vectors were made with.
CREATE TABLE IF NOT EXISTS embedding_model (
    id smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    name text NOT NULL,
    dim integer NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE messages ADD COLUMN IF NOT EXISTS remember boolean NOT NULL DEFAULT true;

CREATE TABLE IF NOT EXISTS memories (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind text NOT NULL CHECK (kind IN ('episodic', 'semantic')),
    pinned boolean NOT NULL DEFAULT false,
    text text NOT NULL,
    speaker text,
    role text,
    thread_id uuid REFERENCES threads(id) ON DELETE CASCADE,
    message_id uuid REFERENCES messages(id) ON DELETE CASCADE,
    seq bigint,
    source_message_ids uuid[] NOT NULL DEFAULT '{}',
    said_at timestamptz NOT NULL DEFAULT now(),
    valid_from timestamptz NOT NULL DEFAULT now(),
    valid_to timestamptz,
    previous_id uuid REFERENCES memories(id) ON DELETE SET NULL,
    importance real NOT NULL DEFAULT 0.5,
    embedding vector(384),
    tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', coalesce(speaker, '') || ' ' || text)) STORED,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS memories_episodic_message_idx ON memories (message_id) WHERE kind = 'episodic';
CREATE INDEX IF NOT EXISTS memories_user_idx ON memories (user_id, kind, valid_to);
CREATE INDEX IF NOT EXISTS memories_thread_seq_idx ON memories (thread_id, seq);
CREATE INDEX IF NOT EXISTS memories_tsv_idx ON memories USING gin (tsv);
CREATE INDEX IF NOT EXISTS memories_embedding_idx ON memories USING hnsw (embedding vector_cosine_ops);

CREATE TABLE IF NOT EXISTS memory_events (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    memory_id uuid,
    action text NOT NULL,
    before jsonb,
    after jsonb,
    reason text,
    message_id uuid,
    undone_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS memory_events_user_idx ON memory_events (user_id, created_at DESC);
CREATE INDEX IF NOT EXISTS memory_events_memory_idx ON memory_events (memory_id);
