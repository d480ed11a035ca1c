-- A private message (/private) and its reply stay in the thread's log, marked, and never reach any memory
-- tier: not the short-term window, not the rolling summary, not episodic memory, not fact extraction.
ALTER TABLE messages ADD COLUMN IF NOT EXISTS private boolean NOT NULL DEFAULT false;
