"""Episodic memory: every turn embedded and stored, in batches, off the reply path.

Messages are durable in Postgres before they reach this queue, so a crash only
delays their episodic memory: ``backfill`` embeds whatever was missed. While one batch
is stored, the next is embedded: the embedding runs on idle cores, so storing beside it
costs it little, where storing between batches left the cores idle.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from dataclasses import dataclass

from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool

from memory.conversations import MESSAGE_COLUMNS, Message
from memory.embeddings import Embedder, Vectors
from memory.long_term.forgetting import Forgotten
from memory.long_term.store import MemoryStore, NewMemory
from memory.retrieval.texts import turn_text

log = logging.getLogger("memory.episodic")


@dataclass(frozen=True)
class _Pending:
    message: Message
    done: asyncio.Future[None]


def passage_text(message: Message) -> str:
    """What is embedded for a turn: who said it, then what they said."""
    return turn_text(message.content, message.speaker, message.role)


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


def _rememberable(messages: list[Message]) -> list[Message]:
    return [m for m in messages if m.role in ("user", "assistant") and m.content.strip() and not m.private]


class EpisodicWriter:
    """Embeds and stores turns in batches; each batch is embedded while the one before it is stored."""

    def __init__(self, pool: AsyncConnectionPool, store: MemoryStore, embedder: Embedder, *, batch: int = 32) -> None:
        self.pool = pool
        self.store = store
        self.embedder = embedder
        self.batch = batch
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        # A batch that failed (a store fault) leaves turns without memory; the next batch that is stored, the
        # store being back, starts a backfill that gives them theirs.
        self._missed = False
        self._backfill: asyncio.Task[int] | None = None

    async def store_now(self, messages: list[Message]) -> int:
        """Embed and store these turns now (one embedding batch); returns how many were new."""
        return await self.store_batches([messages])

    async def store_batches(self, batches: Iterable[list[Message]] | AsyncIterable[list[Message]]) -> int:
        """Embed and store batches of turns, in order; returns how many were new."""
        stored = 0
        storing: asyncio.Task[int] | None = None
        try:
            async for batch in _each(batches):
                kept = _rememberable(batch)
                if not kept:
                    continue
                vectors = await self.embedder.passages([passage_text(m) for m in kept])
                if storing is not None:
                    stored += await storing
                storing = asyncio.ensure_future(self._add(kept, vectors))
            if storing is not None:
                stored += await storing
        finally:
            if storing is not None and not storing.done():
                storing.cancel()
        return stored

    async def _add(self, messages: list[Message], vectors: Vectors) -> int:
        return len(await self.store.add_many([as_memory(m) for m in messages], vectors))

    def submit(self, message: Message) -> asyncio.Future[None]:
        """Queue a stored message; the returned future resolves once its memory is written."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(message, done))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain(), name="episodic-writer")
        return done

    def _next_batch(self) -> list[_Pending]:
        pending: list[_Pending] = []
        while len(pending) < self.batch and not self._queue.empty():
            pending.append(self._queue.get_nowait())
        return pending

    async def _drain(self) -> None:
        storing: tuple[list[_Pending], asyncio.Task[int]] | None = None
        while True:
            pending = self._next_batch()
            if not pending and storing is None:
                return
            vectors: Vectors | None = None
            if pending:
                kept = _rememberable([p.message for p in pending])
                try:
                    vectors = await self.embedder.passages([passage_text(m) for m in kept])
                except Exception as exc:
                    _settle(pending, exc)
                    self._missed = True
                    pending = []
            if storing is not None:
                error = await _outcome(storing[1])
                _settle(storing[0], error)
                storing = None
                if error is not None:
                    self._missed = True
                elif self._missed:
                    self._start_backfill()
            if pending and vectors is not None:
                storing = (pending, asyncio.ensure_future(self._add(kept, vectors)))

    async def discard(self, forgotten: Forgotten) -> int:
        """Drop queued turns that were just forgotten (their text must not be stored); returns how many."""
        kept, dropped = [], 0
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if forgotten.reaches(item.message.user_id, (item.message.id,)):
                dropped += 1
                if not item.done.done():
                    item.done.set_result(None)
            else:
                kept.append(item)
        for item in kept:
            self._queue.put_nowait(item)
        return dropped

    def _start_backfill(self) -> None:
        self._missed = False
        if self._backfill is None or self._backfill.done():
            self._backfill = asyncio.create_task(self._backfill_logged(), name="episodic-backfill")

    async def _backfill_logged(self) -> int:
        try:
            added = await self.backfill()
        except Exception as exc:  # still failing: the next stored batch tries again
            self._missed = True
            log.warning("episodic backfill after a store fault failed: %s", exc)
            return 0
        if added:
            log.info("episodic memory backfilled for %d turns missed during a store fault", added)
        return added

    async def flush(self) -> None:
        """Wait until everything submitted so far is written (and a backfill it started)."""
        while self._worker is not None and not self._worker.done():
            await asyncio.shield(self._worker)
        if self._backfill is not None and not self._backfill.done():
            await asyncio.shield(self._backfill)

    async def rememberable(self, user_id: uuid.UUID, ids: list[uuid.UUID]) -> list[Message]:
        """These messages, if they are still to be remembered (not forgotten, private or kept out of memory)."""
        async with self.pool.connection() as conn, conn.cursor(row_factory=class_row(Message)) as cur:
            await cur.execute(
                f"""SELECT {MESSAGE_COLUMNS} FROM messages m
                   WHERE m.user_id = %s AND m.id = ANY(%s) AND m.remember AND m.status <> 'forgotten'
                   ORDER BY m.seq""",
                (user_id, ids),
            )
            return _rememberable(await cur.fetchall())

    async def backfill(self, *, user_id: uuid.UUID | None = None, limit: int = 10_000) -> int:
        """Embed remembered messages that have no episodic memory yet (after a crash or a re-embed)."""
        return await self.store_batches(self._unremembered(user_id, limit))

    async def _unremembered(self, user_id: uuid.UUID | None, limit: int) -> AsyncIterator[list[Message]]:
        # Paged by position, not by what is still missing: the batch before may not be stored yet.
        after, found = 0, 0
        while found < limit:
            async with self.pool.connection() as conn, conn.cursor(row_factory=class_row(Message)) as cur:
                await cur.execute(
                    f"""SELECT {MESSAGE_COLUMNS} FROM messages m
                       WHERE m.remember AND m.status <> 'forgotten' AND m.role IN ('user', 'assistant')
                         AND btrim(m.content) <> ''
                         AND (%s::uuid IS NULL OR m.user_id = %s) AND m.seq > %s
                         AND NOT EXISTS (SELECT 1 FROM memories e
                                         WHERE e.user_id = m.user_id AND e.message_id = m.id AND e.kind = 'episodic')
                       ORDER BY m.seq LIMIT %s""",
                    (user_id, user_id, after, min(self.batch, limit - found)),
                )
                batch = await cur.fetchall()
            if not batch:
                return
            after, found = batch[-1].seq, found + len(batch)
            yield batch


async def _each(batches: Iterable[list[Message]] | AsyncIterable[list[Message]]) -> AsyncIterator[list[Message]]:
    if isinstance(batches, AsyncIterable):
        async for batch in batches:
            yield batch
    else:
        for batch in batches:
            yield batch


async def _outcome(task: asyncio.Task[int]) -> Exception | None:
    try:
        await task
    except Exception as exc:  # the messages stay in Postgres; backfill picks them up later
        return exc
    return None


def _settle(pending: list[_Pending], error: Exception | None) -> None:
    if error is not None:
        log.warning("episodic memory write failed for %d messages: %s", len(pending), error)
    for item in pending:
        if not item.done.done():
            if error is None:
                item.done.set_result(None)
            else:
                item.done.set_exception(error)
