-- A forgotten turn stays in its thread, in sequence, with its text replaced and status 'forgotten',
-- so the conversation still reads while nothing re-embeds, re-extracts or re-summarises it.
ALTER TABLE messages DROP CONSTRAINT IF EXISTS messages_status_check;
ALTER TABLE messages ADD CONSTRAINT messages_status_check
    CHECK (status IN ('complete', 'partial', 'error', 'forgotten'));
