-- Where each memory came from, in words a person understands: said in chat (an episodic turn), remembered by
-- command (/remember in the chat), added over MCP, added with the CLI, extracted from a conversation, imported.
ALTER TABLE memories ADD COLUMN IF NOT EXISTS origin text;

-- Existing rows: turns were said in chat; a fact takes the origin its first version's 'add' event names.
UPDATE memories SET origin = 'chat' WHERE origin IS NULL AND kind = 'episodic';

WITH RECURSIVE chain AS (
    SELECT id, id AS root, previous_id FROM memories WHERE origin IS NULL
    UNION ALL
    SELECT chain.id, older.id, older.previous_id FROM chain JOIN memories older ON older.id = chain.previous_id
), roots AS (
    SELECT id, root FROM chain WHERE previous_id IS NULL
), first_add AS (
    SELECT DISTINCT ON (memory_id) memory_id, reason FROM memory_events
    WHERE action = 'add' ORDER BY memory_id, created_at
)
UPDATE memories m SET origin = CASE
        WHEN first_add.memory_id IS NULL THEN 'imported'
        WHEN first_add.reason LIKE 'extracted%' THEN 'extracted'
        WHEN first_add.reason = 'stated through MCP' THEN 'mcp'
        WHEN first_add.reason = '/remember in the chat' THEN 'command'
        WHEN first_add.reason = 'stated by the user' THEN 'cli'
        WHEN m.pinned THEN 'command'
        ELSE 'extracted'
    END
FROM roots LEFT JOIN first_add ON first_add.memory_id = roots.root
WHERE m.id = roots.id AND m.origin IS NULL;

UPDATE memories SET origin = CASE WHEN kind = 'episodic' THEN 'chat' ELSE 'imported' END WHERE origin IS NULL;

ALTER TABLE memories ALTER COLUMN origin SET NOT NULL;
DO $$ BEGIN
    ALTER TABLE memories ADD CONSTRAINT memories_origin_check
        CHECK (origin IN ('chat', 'command', 'mcp', 'cli', 'extracted', 'imported'));
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;
