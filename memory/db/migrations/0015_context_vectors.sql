-- A context vector per episodic turn: the turn read with its neighbours in its thread
-- (memory/long_term/context_vectors.py). Derived from the turns' own vectors, so it is NULL
-- until computed and recomputed whenever a neighbour comes or goes. Its size is the size of
-- ``embedding`` (a database re-embedded with another model has another).
DO $$
DECLARE
    dim integer;
BEGIN
    SELECT atttypmod INTO dim FROM pg_attribute WHERE attrelid = 'memories'::regclass AND attname = 'embedding';
    EXECUTE format('ALTER TABLE memories ADD COLUMN IF NOT EXISTS context_embedding vector(%s)', dim);
END $$;
CREATE INDEX IF NOT EXISTS memories_context_embedding_idx ON memories USING hnsw (context_embedding vector_cosine_ops);
-- The turns stored before this migration get theirs now (the same sum the app computes).
UPDATE memories m SET context_embedding = (
    SELECT sum(w.embedding) FROM (
        SELECT m.embedding
        UNION ALL SELECT m.embedding
        UNION ALL (SELECT p.embedding FROM memories p
                   WHERE p.user_id = m.user_id AND p.thread_id = m.thread_id AND p.kind = 'episodic'
                     AND p.valid_to IS NULL AND p.embedding IS NOT NULL AND p.seq < m.seq
                   ORDER BY p.seq DESC LIMIT 1)
        UNION ALL (SELECT p.embedding FROM memories p
                   WHERE p.user_id = m.user_id AND p.thread_id = m.thread_id AND p.kind = 'episodic'
                     AND p.valid_to IS NULL AND p.embedding IS NOT NULL AND p.seq > m.seq
                   ORDER BY p.seq LIMIT 1)
    ) w(embedding))
WHERE m.kind = 'episodic' AND m.embedding IS NOT NULL AND m.thread_id IS NOT NULL AND m.seq IS NOT NULL
  AND m.valid_to IS NULL AND m.context_embedding IS NULL;
