"""The memory service: what the chat commands, the CLI and the MCP server call to see and change memory.

Every change is an audit event that can be undone, except forgetting: what is
forgotten is deleted from every table and Redis key, and its audit events keep
only that something was forgotten, and when.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from psycopg_pool import AsyncConnectionPool

from memory.conversations import ConversationStore, Message
from memory.embeddings import Embedder
from memory.errors import InvalidInputError, NotFoundError
from memory.long_term.records import MemoryEvent, MemoryKind, MemoryRecord
from memory.long_term.search import HybridSearch, SearchHit, searchable
from memory.long_term.store import MemoryStore, NewMemory
from memory.relevance import floor_for
from memory.short_term.window import ShortTermMemory

MAX_MEMORY_CHARS = 4000


@dataclass(frozen=True)
class MemoryDetail:
    memory: MemoryRecord
    sources: list[Message]
    versions: list[MemoryRecord]
    events: list[MemoryEvent]


@dataclass(frozen=True)
class ForgetReport:
    memories: int
    threads: int = 0
    summaries: int = 0
    reports: int = 0
    redis_keys: int = 0


def _clean(text: str) -> str:
    text = text.replace("\x00", "").strip()
    if not text:
        raise InvalidInputError("a memory needs some text")
    if len(text) > MAX_MEMORY_CHARS:
        raise InvalidInputError(f"a memory is at most {MAX_MEMORY_CHARS} characters")
    return text


class MemoryService:
    def __init__(
        self, pool: AsyncConnectionPool, embedder: Embedder, short_term: ShortTermMemory, search: HybridSearch
    ) -> None:
        self.pool = pool
        self.embedder = embedder
        self.store = MemoryStore(pool)
        self.short_term = short_term
        self.searcher = search
        self.floor = floor_for(embedder.name)

    # -- adding and changing ---------------------------------------------------------------
    async def remember(
        self,
        user_id: uuid.UUID,
        text: str,
        *,
        pinned: bool = True,
        speaker: str | None = "user",
        sources: Sequence[uuid.UUID] = (),
        reason: str = "stated by the user",
        importance: float = 0.8,
        previous_id: uuid.UUID | None = None,
    ) -> MemoryRecord:
        text = _clean(text)
        vectors = await self.embedder.passages([text])
        memory = NewMemory(
            user_id=user_id,
            kind="semantic",
            text=text,
            speaker=speaker,
            pinned=pinned,
            source_message_ids=tuple(sources),
            importance=importance,
            previous_id=previous_id,
        )
        (memory_id,) = await self.store.add_many([memory], vectors)
        record = await self.store.get(user_id, memory_id)
        await self.store.record_event(
            user_id,
            memory_id,
            "add",
            after=record.audit_view(),
            reason=reason,
            message_id=sources[0] if sources else None,
        )
        return record

    async def edit(
        self, user_id: uuid.UUID, memory_id: uuid.UUID, text: str, *, reason: str = "edited"
    ) -> MemoryRecord:
        """A new version replaces the memory; the old one is closed (``valid_to``) and kept."""
        old = await self.store.get(user_id, memory_id)
        if not old.current:
            raise InvalidInputError(f"memory {memory_id} is no longer current; edit its newest version")
        now = datetime.now(UTC)
        closed = await self.store.update(user_id, memory_id, valid_to=now)
        new = await self.remember(
            user_id,
            text,
            pinned=old.pinned,
            speaker=old.speaker,
            sources=old.source_message_ids,
            reason=reason,
            importance=old.importance,
            previous_id=old.id,
        )
        await self.store.record_event(
            user_id, new.id, "update", before=closed.audit_view(), after=new.audit_view(), reason=reason
        )
        return new

    async def invalidate(self, user_id: uuid.UUID, memory_id: uuid.UUID, *, reason: str) -> MemoryRecord:
        """A contradicted fact stops being current but stays in history."""
        old = await self.store.get(user_id, memory_id)
        closed = await self.store.update(user_id, memory_id, valid_to=datetime.now(UTC))
        await self.store.record_event(
            user_id, memory_id, "invalidate", before=old.audit_view(), after=closed.audit_view(), reason=reason
        )
        return closed

    async def set_pinned(self, user_id: uuid.UUID, memory_id: uuid.UUID, pinned: bool) -> MemoryRecord:
        old = await self.store.get(user_id, memory_id)
        new = await self.store.update(user_id, memory_id, pinned=pinned)
        await self.store.record_event(
            user_id, memory_id, "pin" if pinned else "unpin", before=old.audit_view(), after=new.audit_view()
        )
        return new

    async def undo(self, user_id: uuid.UUID, event_id: uuid.UUID) -> MemoryEvent:
        event = await self.store.event(user_id, event_id)
        if event.undone_at is not None:
            raise InvalidInputError(f"event {event_id} was already undone")
        if event.memory_id is None or event.action == "forget":
            raise InvalidInputError("forgetting is final and cannot be undone")
        if event.action == "add":
            await self.store.delete(user_id, [event.memory_id])
        elif event.action == "update":
            new = await self.store.get(user_id, event.memory_id)
            if new.previous_id is not None:
                await self.store.update(user_id, new.previous_id, valid_to=None)
            await self.store.delete(user_id, [new.id])
        elif event.action == "invalidate":
            await self.store.update(user_id, event.memory_id, valid_to=None)
        elif event.action in ("pin", "unpin"):
            await self.store.update(user_id, event.memory_id, pinned=event.action == "unpin")
        else:
            raise InvalidInputError(f"events of type {event.action!r} cannot be undone")
        await self.store.mark_undone(event.id)
        await self.store.record_event(user_id, event.memory_id, "undo", reason=f"undid event {event.id}")
        return event

    # -- reading ---------------------------------------------------------------------------
    async def search(
        self, user_id: uuid.UUID, query: str, *, limit: int = 10, now: datetime | None = None, floor: bool = True
    ) -> list[SearchHit]:
        """The memories that match ``query`` (above the relevance floor), best first: what recall commands
        show and what forgetting by query takes. ``floor=False``: the nearest, matching or not."""
        if not query.strip():
            raise InvalidInputError("the search query is empty")
        depth = max(100, limit)
        hits = await self.searcher.search(user_id, query, now=now or datetime.now(UTC), limit=2 * depth, depth=depth)
        if not floor:
            return hits[:limit]
        matches = self.floor.for_query(query)
        return [h for h in hits if matches.admits(h.similarity, searchable(h))][:limit]

    async def list_memories(
        self,
        user_id: uuid.UUID,
        *,
        kinds: Sequence[MemoryKind] = ("episodic", "semantic"),
        pinned_only: bool = False,
        include_history: bool = False,
        as_of: datetime | None = None,
        limit: int = 50,
    ) -> list[MemoryRecord]:
        where = ["kind = ANY(%s)"]
        params: list[object] = [list(kinds)]
        if pinned_only:
            where.append("pinned")
        if as_of is not None:
            where.append("valid_from <= %s AND (valid_to IS NULL OR valid_to > %s) AND said_at <= %s")
            params += [as_of, as_of, as_of]
        elif not include_history:
            where.append("valid_to IS NULL")
        return await self.store.fetch(user_id, " AND ".join(where), params, limit=limit)

    async def pinned(self, user_id: uuid.UUID) -> list[MemoryRecord]:
        return await self.store.fetch(
            user_id, "pinned AND valid_to IS NULL", (), order="importance DESC, created_at", limit=200
        )

    async def show(self, user_id: uuid.UUID, memory_id: uuid.UUID) -> MemoryDetail:
        memory = await self.store.get(user_id, memory_id)
        versions = [memory]
        while versions[-1].previous_id is not None:
            try:
                versions.append(await self.store.get(user_id, versions[-1].previous_id))
            except NotFoundError:
                break
        newer = await self.store.fetch(user_id, "previous_id = %s", (memory_id,))
        versions = list(reversed(newer)) + versions
        sources = await self._messages(user_id, memory.source_message_ids)
        events = await self.store.events(user_id, memory_id=memory_id)
        return MemoryDetail(memory, sources, versions, events)

    async def _messages(self, user_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> list[Message]:
        return await ConversationStore(self.pool).messages_by_id(user_id, ids)

    async def history(self, user_id: uuid.UUID, memory_id: uuid.UUID) -> list[MemoryEvent]:
        """Every audit event of every version of this memory, oldest first."""
        detail = await self.show(user_id, memory_id)
        events = {e.id: e for v in detail.versions for e in await self.store.events(user_id, memory_id=v.id)}
        return sorted(events.values(), key=lambda e: (e.created_at, str(e.id)))

    async def search_as_of(
        self, user_id: uuid.UUID, query: str, as_of: datetime, *, limit: int = 10
    ) -> list[SearchHit]:
        """Memories that were current at ``as_of``, nearest to the query by meaning (for looking back)."""
        if not query.strip():
            raise InvalidInputError("the search query is empty")
        (vector,) = await self.embedder.queries([query])
        rows = await self.store.fetch(
            user_id,
            "embedding IS NOT NULL AND valid_from <= %s AND (valid_to IS NULL OR valid_to > %s) AND said_at <= %s",
            [as_of, as_of, as_of, np.asarray(vector, dtype=np.float32)],
            order="embedding <=> %s",
            limit=limit,
        )
        return [SearchHit(m, 1.0 / (rank + 1), rank + 1, None, None) for rank, m in enumerate(rows)]

    # -- forgetting (final) ---------------------------------------------------------------
    async def forget(self, user_id: uuid.UUID, memory_ids: Sequence[uuid.UUID], *, reason: str = "") -> ForgetReport:
        """Delete these memories everywhere; their turns are not re-remembered."""
        records = await self.store.fetch(user_id, "id = ANY(%s)", (list(memory_ids),))
        if not records:
            raise NotFoundError("no such memory")
        ids = [m.id for m in records]
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute(
                "UPDATE messages SET remember = false WHERE user_id = %s AND id = ANY(%s)",
                (user_id, [m.message_id for m in records if m.message_id]),
            )
            await conn.execute("DELETE FROM memories WHERE user_id = %s AND id = ANY(%s)", (user_id, ids))
        await self.store.scrub_events(user_id, ids)
        for memory_id in ids:
            await self.store.record_event(user_id, memory_id, "forget", reason=None)
        return ForgetReport(memories=len(ids))

    async def forget_all(self, user_id: uuid.UUID, *, conversations: bool = False) -> ForgetReport:
        """Every long-term memory, rolling summary and context report of the user; conversations too if asked."""
        async with self.pool.connection() as conn, conn.transaction():
            memories = (await conn.execute("DELETE FROM memories WHERE user_id = %s", (user_id,))).rowcount
            summaries = (await conn.execute("DELETE FROM thread_summaries WHERE user_id = %s", (user_id,))).rowcount
            reports = (await conn.execute("DELETE FROM context_reports WHERE user_id = %s", (user_id,))).rowcount
            await conn.execute(
                "UPDATE memory_events SET before = NULL, after = NULL, reason = NULL WHERE user_id = %s", (user_id,)
            )
            threads = 0
            if conversations:
                threads = (await conn.execute("DELETE FROM threads WHERE user_id = %s", (user_id,))).rowcount
            else:
                await conn.execute("UPDATE messages SET remember = false WHERE user_id = %s", (user_id,))
            await conn.execute(
                "INSERT INTO memory_events (user_id, action, reason) VALUES (%s, 'forget', 'forget all')", (user_id,)
            )
        keys = await self.short_term.forget_user(user_id)
        return ForgetReport(memories, threads, summaries, reports, keys)

    # -- memories that came from one thread -------------------------------------------------
    async def from_thread(
        self, user_id: uuid.UUID, thread_id: uuid.UUID, *, kinds: Sequence[MemoryKind] = ("semantic",)
    ) -> list[MemoryRecord]:
        """Memories whose provenance is this thread: its episodic turns, facts drawn from its messages."""
        return await self.store.fetch(
            user_id,
            "kind = ANY(%s) AND (thread_id = %s OR source_message_ids && "
            "ARRAY(SELECT id FROM messages WHERE thread_id = %s AND user_id = %s))",
            (list(kinds), thread_id, thread_id, user_id),
            limit=10_000,
        )

    async def forget_from_thread(self, user_id: uuid.UUID, thread_id: uuid.UUID) -> ForgetReport:
        """Forget every memory that came from this thread (call before deleting the thread itself)."""
        records = await self.from_thread(user_id, thread_id, kinds=("episodic", "semantic"))
        if not records:
            return ForgetReport(memories=0)
        return await self.forget(user_id, [m.id for m in records], reason="thread deleted")
