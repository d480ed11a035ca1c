-- Deleting memories checks memories.previous_id (a self reference): without an index every deleted
-- memory scans the table, and erasing a large user takes hours. Pinned memories are read every turn.
CREATE INDEX IF NOT EXISTS memories_previous_idx ON memories (previous_id);
CREATE INDEX IF NOT EXISTS memories_pinned_idx ON memories (user_id) WHERE pinned AND valid_to IS NULL;
