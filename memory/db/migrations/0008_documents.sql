-- Documents the user uploaded and their chunks: structure-aware pieces with a vector and full text.
-- A document belongs to a user and, optionally, to one thread (NULL: every thread of the user);
-- its name is unique within that scope, so adding a file again updates it in place.
CREATE TABLE IF NOT EXISTS documents (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    thread_id uuid REFERENCES threads(id) ON DELETE CASCADE,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 500),
    type text NOT NULL,
    size_bytes bigint NOT NULL,
    content_hash text NOT NULL,
    pages integer,
    chunk_count integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT documents_scope_name_key UNIQUE NULLS NOT DISTINCT (user_id, thread_id, name)
);
CREATE INDEX IF NOT EXISTS documents_user_idx ON documents (user_id, created_at DESC);

CREATE TABLE IF NOT EXISTS document_chunks (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    document_id uuid NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    thread_id uuid REFERENCES threads(id) ON DELETE CASCADE,
    ordinal integer NOT NULL,
    text text NOT NULL,
    page integer,
    section text,
    token_count integer NOT NULL,
    content_hash text NOT NULL,
    embedding vector(384),
    tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', coalesce(section, '') || ' ' || text)) STORED,
    UNIQUE (document_id, ordinal)
);
-- Chunks are long: out-of-line (TOAST) tsvectors made ranking full-text matches 4x slower at 10,000
-- chunks; kept in the row (compressed) they are read with it.
ALTER TABLE document_chunks ALTER COLUMN tsv SET STORAGE MAIN;
CREATE INDEX IF NOT EXISTS document_chunks_user_hash_idx ON document_chunks (user_id, content_hash);
CREATE INDEX IF NOT EXISTS document_chunks_embedding_idx ON document_chunks USING hnsw (embedding vector_cosine_ops);
CREATE EXTENSION IF NOT EXISTS btree_gin;
CREATE INDEX IF NOT EXISTS document_chunks_user_tsv_idx ON document_chunks USING gin (user_id, tsv);
