"""The kinds of background job, their queues, and the jobs a stored message brings with it.

A job carries ids only (message, thread, user), never text: the handler reads the text when it runs, so a
job about something forgotten since finds nothing to do, and the queue's tables never hold what was said.
"""

from __future__ import annotations

from dataclasses import dataclass

from memory.job_queue import JobRequest

EMBED_TURN = "episodic.embed"  # episodic memory of one stored turn
EXTRACT_FACTS = "facts.extract"  # facts drawn from one exchange (the reply names its user message)
SUMMARIZE = "summary.fold"  # fold a thread's older turns into its rolling summary
BACKFILL = "episodic.backfill"  # episodic memory for every remembered turn that has none
EMBED_DOCUMENT = "documents.embed"  # vectors for the chunks of one stored document (ids: document, user)
REEMBED = "vectors.reembed"  # every memory and chunk embedded again with the recorded model (its name and size)

QUEUES = {
    EMBED_TURN: "turns",
    EXTRACT_FACTS: "facts",
    SUMMARIZE: "summaries",
    BACKFILL: "maintenance",
    EMBED_DOCUMENT: "documents",
    REEMBED: "maintenance",
}
# Jobs that read one exchange's turns: a forgetting of those turns deletes them if they still wait.
ABOUT_TURNS = (EMBED_TURN, EXTRACT_FACTS)


def job(task: str, **args: object) -> JobRequest:
    # One thread's summary (one document's embedding, one re-embedding) at a time, whichever worker holds it.
    lock = {SUMMARIZE: "summary:{thread_id}", EMBED_DOCUMENT: "document:{document_id}", REEMBED: "reembed"}.get(task)
    return JobRequest(task, QUEUES[task], args, lock=lock)


@dataclass(frozen=True)
class TurnJobs:
    """Which jobs a turn's messages bring, from what the turn may write (MemoryUse) and what this app runs."""

    remembering: bool = True  # ASSISTANT_MEMORY_ENABLED
    extracting: bool = False
    summarizing: bool = True

    def for_user_message(self, *, write: bool) -> list[JobRequest]:
        return [job(EMBED_TURN)] if write and self.remembering else []

    def for_reply(
        self, *, write: bool, summarize: bool, user_message_id: object, complete: bool = True
    ) -> list[JobRequest]:
        write = write and self.remembering
        jobs = [job(EMBED_TURN)] if write else []
        if write and complete and self.extracting:
            jobs.append(job(EXTRACT_FACTS, messages=[str(user_message_id)]))
        if summarize and complete and self.summarizing:
            jobs.append(job(SUMMARIZE))
        return jobs
