"""What each kind of job does. Every handler is idempotent: run twice, it changes nothing more.

Episodic memory is keyed by its message (a turn already stored is skipped), facts by the reply they were
drawn from (extraction_runs), a summary by the turns it covers (a thread whose summary is current is not due).
A job about something forgotten or deleted since it was queued finds nothing and does nothing.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from assistant.pipeline.extraction import Extractor
from assistant.pipeline.summarizer import Summarizer
from memory.conversations import ConversationStore
from memory.documents.service import DocumentService
from memory.errors import ConfigError, NotFoundError
from memory.job_queue import message_ids
from memory.long_term.episodic import EpisodicWriter
from memory.long_term.reembed import reembed_all
from memory.long_term.service import MemoryService

log = logging.getLogger("assistant.jobs")


@dataclass
class Handlers:
    conversations: ConversationStore
    episodic: EpisodicWriter | None  # None: long-term memory is switched off for this deployment
    summarizer: Summarizer | None
    extractor: Extractor | None
    documents: DocumentService | None = None
    memories: MemoryService | None = None

    async def embed_turn(self, **args: Any) -> int:
        if self.episodic is None:
            return 0
        user_id = uuid.UUID(str(args["user_id"]))
        found = await self.episodic.rememberable(user_id, message_ids(args))
        # Through the writer's batches: concurrent jobs share one embedding call.
        for message in found:
            await self.episodic.submit(message)
        return len(found)

    async def extract_facts(self, **args: Any) -> int:
        if self.extractor is None or self.episodic is None:
            return 0
        ids = [str(i) for i in message_ids(args)]
        job = {"user_id": args["user_id"], "thread_id": args.get("thread_id"), "messages": ids, "key": ids[-1]}
        return len(await self.extractor.process(job))

    async def summarize(self, **args: Any) -> bool:
        if self.summarizer is None:
            return False
        try:
            thread = await self.conversations.get_thread(uuid.UUID(str(args["user_id"])), uuid.UUID(args["thread_id"]))
        except NotFoundError:
            return False  # the conversation was deleted since
        return await self.summarizer.maybe_summarize(thread) is not None

    async def backfill(self, **args: Any) -> int:
        if self.episodic is None:
            return 0
        user = args.get("user_id")
        added = await self.episodic.backfill(user_id=uuid.UUID(str(user)) if user else None)
        if added:
            log.info("episodic memory backfilled for %d stored turns that had none", added)
        return added

    async def embed_document(self, **args: Any) -> int:
        if self.documents is None:
            return 0
        # A document removed or replaced since has no chunk left without a vector: nothing to do.
        return await self.documents.embed_pending(uuid.UUID(str(args["user_id"])), uuid.UUID(str(args["document_id"])))

    async def reembed(self, **args: Any) -> int:
        if self.memories is None:
            return 0
        embedder = self.memories.embedder
        wanted = (str(args["embedder"]), int(args["dim"]))
        if (embedder.name, embedder.dim) != wanted:
            raise ConfigError(
                f"this worker embeds with {embedder.name} ({embedder.dim}-d), the job asks for {wanted[0]} "
                f"({wanted[1]}-d)",
                hint="run the worker with the embedder the job names (ASSISTANT_EMBEDDER, ASSISTANT_EMBEDDING_DIM)",
            )
        shown = [0.0]

        def progress(done: int, total: int) -> None:
            if time.monotonic() - shown[0] >= 5 or done == total:  # the worker's log shows how far it got
                shown[0] = time.monotonic()
                log.info("re-embedding memories with %s: %d of %d", embedder.name, done, total)

        count = await reembed_all(self.memories.pool, embedder, progress=progress)
        log.info("re-embedded %d memories and document chunks with %s", count, embedder.name)
        return count
