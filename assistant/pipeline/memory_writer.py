"""What happens to every stored message: the short-term window, then episodic memory off the reply path.

The chat and the benchmarks both write through here, so they exercise the same path.
"""

from __future__ import annotations

import logging

from assistant.pipeline.extraction import Extractor
from memory.conversations import Message, Thread
from memory.errors import StoreError
from memory.long_term.episodic import EpisodicWriter
from memory.short_term.window import ShortTermMemory

log = logging.getLogger("assistant.memory_writer")


class MemoryWriter:
    def __init__(
        self, short_term: ShortTermMemory, episodic: EpisodicWriter | None, extractor: Extractor | None = None
    ) -> None:
        self.short_term = short_term
        self.episodic = episodic
        self.extractor = extractor

    async def message_stored(self, thread: Thread, message: Message, *, remember: bool = True) -> None:
        await self.short_term.record(thread, message)
        if remember:
            self.remember(message)

    def remember(self, message: Message) -> None:
        """Queue the message for episodic memory (embedded and stored off the reply path)."""
        if self.episodic is not None:
            self.episodic.submit(message)

    async def exchange_stored(self, thread: Thread, user_message: Message, reply: Message) -> None:
        """Queue the exchange for fact extraction (off the reply path)."""
        if self.extractor is not None and self.episodic is not None:
            try:
                await self.extractor.enqueue(thread, user_message, reply)
            except StoreError as exc:  # the reply is stored and shown; only its facts are not drawn this time
                log.warning("facts of message %s not queued for extraction: %s", reply.id, exc)

    async def flush(self) -> None:
        if self.episodic is not None:
            await self.episodic.flush()
