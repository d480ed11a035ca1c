-- The ids of deleted conversations, so a browser tab still open on one cannot bring it back:
-- nothing is written into a thread whose id is here. Only the id is kept, never any text.
CREATE TABLE IF NOT EXISTS deleted_threads (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    deleted_at timestamptz NOT NULL DEFAULT now()
);
