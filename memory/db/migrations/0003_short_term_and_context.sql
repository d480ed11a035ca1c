-- The rolling summary of each thread (Redis holds a copy) and the context report of every reply.
CREATE TABLE IF NOT EXISTS thread_summaries (
    thread_id uuid PRIMARY KEY REFERENCES threads(id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    content text NOT NULL,
    covers_through_seq bigint NOT NULL,
    model text,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS context_reports (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    thread_id uuid NOT NULL REFERENCES threads(id) ON DELETE CASCADE,
    message_id uuid REFERENCES messages(id) ON DELETE CASCADE,
    report jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS context_reports_thread_idx ON context_reports (thread_id, created_at DESC);
CREATE INDEX IF NOT EXISTS context_reports_message_idx ON context_reports (message_id);
