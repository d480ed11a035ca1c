-- The job queue (docs/deployment.md, "Background work"): procrastinate's tables, applied just before this
-- file from the schema the installed procrastinate ships. Jobs carry ids only, never text.
-- `assistant jobs list` reads jobs by state, newest first.
CREATE INDEX IF NOT EXISTS jobs_by_status_idx ON procrastinate_jobs (status, id DESC);
