"""What every stored message goes through: the short-term window now, and the jobs it was stored with.

The jobs (episodic memory, fact extraction, the rolling summary) are deferred in the message's own
transaction (assistant/jobs/kinds.py says which); the chat and the benchmarks both write through here.
"""

from __future__ import annotations

from assistant.jobs.kinds import TurnJobs
from memory.conversations import Message, Thread
from memory.short_term.window import ShortTermMemory


class MemoryWriter:
    def __init__(self, short_term: ShortTermMemory, jobs: TurnJobs) -> None:
        self.short_term = short_term
        self.jobs = jobs

    async def message_stored(self, thread: Thread, message: Message) -> None:
        await self.short_term.record(thread, message)
