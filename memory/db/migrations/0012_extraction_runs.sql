-- Extraction jobs done, keyed by the reply they read: a job queued or run twice stores its facts once.
-- Only ids are kept (no text), and a row goes with its message or its user.
CREATE TABLE IF NOT EXISTS extraction_runs (
    message_id uuid PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    done_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS extraction_runs_user ON extraction_runs (user_id);
