"""Episodic memory: every turn embedded and stored, in batches, off the reply path.

Messages are durable in Postgres before they reach this queue, so a crash only
delays their episodic memory: ``backfill`` embeds whatever was missed.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass

from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool

from memory.conversations import MESSAGE_COLUMNS, Message
from memory.embeddings import Embedder
from memory.long_term.reembed import passage_of
from memory.long_term.store import MemoryStore, NewMemory

log = logging.getLogger("memory.episodic")


@dataclass(frozen=True)
class _Pending:
    message: Message
    done: asyncio.Future[None]


def passage_text(message: Message) -> str:
    """What is embedded for a turn: who said it, then what they said."""
    return passage_of("episodic", message.content, message.speaker, message.role)


def as_memory(message: Message) -> NewMemory:
    return NewMemory(
        user_id=message.user_id,
        kind="episodic",
        text=message.content,
        speaker=message.speaker,
        role=message.role,
        thread_id=message.thread_id,
        message_id=message.id,
        seq=message.seq,
        source_message_ids=(message.id,),
        said_at=message.created_at,
    )


class EpisodicWriter:
    def __init__(self, pool: AsyncConnectionPool, store: MemoryStore, embedder: Embedder, *, batch: int = 32) -> None:
        self.pool = pool
        self.store = store
        self.embedder = embedder
        self.batch = batch
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    async def store_now(self, messages: list[Message]) -> int:
        """Embed and store these turns now (one embedding batch); returns how many were new."""
        kept = [m for m in messages if m.role in ("user", "assistant") and m.content.strip()]
        if not kept:
            return 0
        vectors = await self.embedder.passages([passage_text(m) for m in kept])
        return len(await self.store.add_many([as_memory(m) for m in kept], vectors))

    def submit(self, message: Message) -> asyncio.Future[None]:
        """Queue a stored message; the returned future resolves once its memory is written."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(message, done))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain(), name="episodic-writer")
        return done

    async def _drain(self) -> None:
        while not self._queue.empty():
            pending = [self._queue.get_nowait()]
            while len(pending) < self.batch and not self._queue.empty():
                pending.append(self._queue.get_nowait())
            try:
                await self.store_now([p.message for p in pending])
            except Exception as exc:  # the messages stay in Postgres; backfill picks them up later
                log.warning("episodic memory write failed for %d messages: %s", len(pending), exc)
                for item in pending:
                    if not item.done.done():
                        item.done.set_exception(exc)
                continue
            for item in pending:
                if not item.done.done():
                    item.done.set_result(None)

    async def flush(self) -> None:
        """Wait until everything submitted so far is written."""
        while self._worker is not None and not self._worker.done():
            await asyncio.shield(self._worker)

    async def backfill(self, *, user_id: uuid.UUID | None = None, limit: int = 10_000) -> int:
        """Embed remembered messages that have no episodic memory yet (after a crash or a re-embed)."""
        total = 0
        while total < limit:
            async with self.pool.connection() as conn, conn.cursor(row_factory=class_row(Message)) as cur:
                await cur.execute(
                    f"""SELECT {MESSAGE_COLUMNS} FROM messages m
                       WHERE m.remember AND m.role IN ('user', 'assistant') AND btrim(m.content) <> ''
                         AND (%s::uuid IS NULL OR m.user_id = %s)
                         AND NOT EXISTS (SELECT 1 FROM memories e WHERE e.message_id = m.id AND e.kind = 'episodic')
                       ORDER BY m.seq LIMIT %s""",
                    (user_id, user_id, self.batch),
                )
                batch = await cur.fetchall()
            if not batch:
                break
            await self.store_now(batch)
            total += len(batch)
        return total
