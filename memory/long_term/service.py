"""The memory service: what the chat commands, the CLI and the MCP server call to see and change memory.

Every change is an audit event that can be undone, except forgetting: what is
forgotten leaves every table, Redis key, queue and cache it could come back from
(memory/long_term/forgetting.py), and its audit events keep only that something
was forgotten, and when.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from memory import text_input
from memory.conversations import ConversationStore, Message
from memory.db.at_rest import AtRest
from memory.embeddings import Embedder, RemembersQueries, Vectors
from memory.errors import InvalidInputError, NotFoundError
from memory.long_term.duplicates import Match, find_stored, text_key
from memory.long_term.forgetting import ForgetHook, ForgetPreview, ForgetReport, Forgetter
from memory.long_term.overview import MemoryOverview, ThreadTurns, overview, turns_by_thread
from memory.long_term.records import MemoryEvent, MemoryKind, MemoryOrigin, MemoryRecord
from memory.long_term.search import HybridSearch, SearchHit
from memory.long_term.store import MemoryStore, NewMemory
from memory.relevance import RelevanceFloor
from memory.retrieval.memo import forget_cached_texts
from memory.retrieval.texts import memory_words, semantic_text
from memory.short_term.window import ShortTermMemory

MAX_MEMORY_CHARS = text_input.MAX_MEMORY_CHARS
MIN_ID_PREFIX = 4


@dataclass(frozen=True)
class MemoryDetail:
    memory: MemoryRecord
    sources: list[Message]
    versions: list[MemoryRecord]
    events: list[MemoryEvent]


class Remembered(MemoryRecord):
    """What ``remember`` returns: the memory, new (``created``) or the stored one the text repeats, updated."""

    created: bool = True
    match: Match | None = None  # how the text matched the stored memory
    changes: tuple[str, ...] = ()  # what the repeat changed, in words
    event_id: uuid.UUID | None = None  # the audit event (to undo it)

    @property
    def outcome(self) -> str:
        """What happened, in words: remembered, or already remembered and what the repeat updated."""
        if self.created:
            return "remembered"
        return f"already remembered; updated ({', '.join(self.changes) or 'nothing new to add'})"


def _clean(text: str) -> str:
    return text_input.memory_text(text)


class MemoryService:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        embedder: Embedder,
        short_term: ShortTermMemory,
        search: HybridSearch,
        *,
        floor: RelevanceFloor,
        near_duplicate: float,
    ) -> None:
        """``floor`` and ``near_duplicate``: the similarities calibrated for the embedder's vectors (its profile)."""
        self.pool = pool
        self.embedder = embedder
        self.store = MemoryStore(pool)
        self.short_term = short_term
        self.searcher = search
        self.forgetter = Forgetter(pool, short_term)
        caches = {id(e): e for e in (embedder, search.embedder) if isinstance(e, RemembersQueries)}
        for cache in caches.values():
            self.on_forget(cache.forget_queries)
        self.on_forget(self._forget_term_stats)
        self.on_forget(forget_cached_texts)  # what recall's word rules kept of the texts
        self.floor = floor
        self.near_duplicate = near_duplicate

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
        origin: MemoryOrigin = "command",
    ) -> Remembered:
        """Store a fact; a text already stored (see ``duplicates``) updates that memory instead of adding a copy."""
        text = _clean(text)
        vectors = await self.embedder.passages([semantic_text(text)])
        async with self.pool.connection() as conn, conn.transaction():
            # One remember at a time per user, so two of the same text at once still make one memory.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"remember:{user_id}",))
            found = await find_stored(conn, user_id, text, vectors[0], self.near_duplicate)
            if found is not None:
                return await self._restate(
                    conn,
                    found.memory,
                    found.match,
                    pinned=pinned,
                    sources=sources,
                    importance=importance,
                    reason=reason,
                )
            memory = NewMemory(
                user_id=user_id,
                kind="semantic",
                text=text,
                speaker=speaker,
                pinned=pinned,
                source_message_ids=tuple(sources),
                importance=importance,
                origin=origin,
            )
            record, event_id = await self._insert(conn, memory, vectors, reason=reason)
        return Remembered(**record.model_dump(), event_id=event_id)

    async def _insert(
        self, conn: AsyncConnection, memory: NewMemory, vectors: Vectors, *, reason: str
    ) -> tuple[MemoryRecord, uuid.UUID]:
        """Add a memory and its 'add' event on the caller's transaction."""
        added = await self.store.add_many([memory], vectors, conn=conn)
        if not added:
            raise InvalidInputError("the conversation this memory came from was forgotten")
        (memory_id,) = added
        record = await self.store.get(memory.user_id, memory_id, conn=conn)
        sources = memory.source_message_ids
        event_id = await self.store.record_event(
            memory.user_id,
            memory_id,
            "add",
            after=record.audit_view(),
            reason=reason,
            message_id=sources[0] if sources else None,
            conn=conn,
        )
        return record, event_id

    async def _restate(
        self,
        conn: AsyncConnection,
        old: MemoryRecord,
        match: Match,
        *,
        pinned: bool,
        sources: Sequence[uuid.UUID],
        importance: float,
        reason: str,
    ) -> Remembered:
        """The stored memory a repeated text matched, updated: pinned if asked, with the new sources."""
        added = [s for s in dict.fromkeys(sources) if s not in old.source_message_ids]
        changes = ["now pinned"] if pinned and not old.pinned else []
        if added:
            changes.append(f"{len(added)} more source message{'s' if len(added) > 1 else ''}")
        new = await self.store.update(
            old.user_id,
            old.id,
            conn=conn,
            pinned=old.pinned or pinned,
            importance=max(old.importance, importance),
            source_message_ids=[*old.source_message_ids, *added],
        )
        event_id = await self.store.record_event(
            old.user_id,
            old.id,
            "restate",
            before={
                **old.audit_view(),
                "importance": old.importance,
                "sources": [str(s) for s in old.source_message_ids],
            },
            after=new.audit_view(),
            reason=f"{reason} again ({match})",
            message_id=added[0] if added else None,
            conn=conn,
        )
        return Remembered(**new.model_dump(), created=False, match=match, changes=tuple(changes), event_id=event_id)

    async def edit(
        self, user_id: uuid.UUID, memory_id: uuid.UUID, text: str, *, reason: str = "edited"
    ) -> MemoryRecord:
        """A new version replaces the memory; the old one is closed (``valid_to``) and kept."""
        old = await self.store.get(user_id, memory_id)
        self._check_edit(old, memory_id, text)
        text = _clean(text)
        vectors = await self.embedder.passages([semantic_text(text)])
        async with self.pool.connection() as conn, conn.transaction():
            # Read again under a row lock: an edit that raced this one has closed it, and this one must not fork it.
            old = await self._locked(conn, user_id, memory_id)
            self._check_edit(old, memory_id, text)
            closed = await self.store.update(user_id, memory_id, conn=conn, valid_to=datetime.now(UTC))
            version = NewMemory(
                user_id=user_id,
                kind="semantic",
                text=text,
                speaker=old.speaker,
                pinned=old.pinned,
                source_message_ids=tuple(old.source_message_ids),
                importance=old.importance,
                previous_id=old.id,
                origin=old.origin,
            )
            new, _ = await self._insert(conn, version, vectors, reason=reason)
            await self.store.record_event(
                user_id, new.id, "update", before=closed.audit_view(), after=new.audit_view(), reason=reason, conn=conn
            )
        return new

    @staticmethod
    def _check_edit(old: MemoryRecord, memory_id: uuid.UUID, text: str) -> None:
        if not old.current:
            raise InvalidInputError(f"memory {memory_id} is no longer current; edit its newest version")
        if text_key(_clean(text)) == text_key(old.text):
            raise InvalidInputError("the memory already says that; nothing was changed")

    async def _locked(self, conn: AsyncConnection, user_id: uuid.UUID, memory_id: uuid.UUID) -> MemoryRecord:
        await conn.execute("SELECT 1 FROM memories WHERE id = %s AND user_id = %s FOR UPDATE", (memory_id, user_id))
        return await self.store.get(user_id, memory_id, conn=conn)

    async def invalidate(self, user_id: uuid.UUID, memory_id: uuid.UUID, *, reason: str) -> MemoryRecord:
        """A contradicted fact stops being current but stays in history."""
        async with self.pool.connection() as conn, conn.transaction():
            old = await self.store.get(user_id, memory_id, conn=conn)
            closed = await self.store.update(user_id, memory_id, conn=conn, valid_to=datetime.now(UTC))
            await self.store.record_event(
                user_id,
                memory_id,
                "invalidate",
                before=old.audit_view(),
                after=closed.audit_view(),
                reason=reason,
                conn=conn,
            )
        return closed

    async def set_pinned(self, user_id: uuid.UUID, memory_id: uuid.UUID, pinned: bool) -> MemoryRecord:
        async with self.pool.connection() as conn, conn.transaction():
            old = await self.store.get(user_id, memory_id, conn=conn)
            new = await self.store.update(user_id, memory_id, conn=conn, pinned=pinned)
            await self.store.record_event(
                user_id,
                memory_id,
                "pin" if pinned else "unpin",
                before=old.audit_view(),
                after=new.audit_view(),
                conn=conn,
            )
        return new

    async def undo(self, user_id: uuid.UUID, event_id: uuid.UUID) -> MemoryEvent:
        """Reverse one change; the reversal, the event's "undone" mark and the "undo" event commit together (the
        event is locked, so two undos of it at once reverse it once)."""
        async with self.pool.connection() as conn, conn.transaction():
            event = await self.store.event(user_id, event_id, conn=conn, lock=True)
            if event.undone_at is not None:
                raise InvalidInputError(f"event {event_id} was already undone")
            if event.memory_id is None or event.action == "forget":
                raise InvalidInputError("forgetting is final and cannot be undone")
            await self._reverse(conn, user_id, event)
            await self.store.mark_undone(event.id, conn=conn)
            await self.store.record_event(user_id, event.memory_id, "undo", reason=f"undid event {event.id}", conn=conn)
        return event

    async def _reverse(self, conn: AsyncConnection, user_id: uuid.UUID, event: MemoryEvent) -> None:
        assert event.memory_id is not None
        if event.action == "add":
            await self.store.delete(user_id, [event.memory_id], conn=conn)
        elif event.action == "update":
            new = await self.store.get(user_id, event.memory_id, conn=conn)
            if new.previous_id is not None:
                await self.store.update(user_id, new.previous_id, conn=conn, valid_to=None)
            await self.store.delete(user_id, [new.id], conn=conn)
        elif event.action == "invalidate":
            await self.store.update(user_id, event.memory_id, conn=conn, valid_to=None)
        elif event.action == "restate":
            before = event.before or {}
            await self.store.update(
                user_id,
                event.memory_id,
                conn=conn,
                pinned=bool(before.get("pinned")),
                importance=float(before.get("importance", 0.5)),
                source_message_ids=[uuid.UUID(str(s)) for s in before.get("sources", [])],
            )
        elif event.action in ("pin", "unpin"):
            await self.store.update(user_id, event.memory_id, conn=conn, pinned=event.action == "unpin")
        else:
            raise InvalidInputError(f"events of type {event.action!r} cannot be undone")

    # -- reading ---------------------------------------------------------------------------
    async def search(
        self, user_id: uuid.UUID, query: str, *, limit: int = 10, now: datetime | None = None, floor: bool = True
    ) -> list[SearchHit]:
        """The memories that match ``query`` (above the relevance floor), best first: what recall commands
        show and what forgetting by query takes. ``floor=False``: the nearest, matching or not."""
        query = text_input.query(query)
        depth = max(100, limit)
        hits = await self.searcher.search(user_id, query, now=now or datetime.now(UTC), limit=2 * depth, depth=depth)
        if not floor:
            return hits[:limit]
        matches = self.floor.for_query(query)
        return [h for h in hits if matches.admits(h.similarity, memory_words(h.memory.text, h.memory.speaker))][:limit]

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

    async def find(self, user_id: uuid.UUID, reference: str) -> MemoryRecord:
        """A memory of the user by its id or the first characters of it (as listings show), old versions too."""
        reference = reference.strip().lower()
        try:
            return await self.store.get(user_id, uuid.UUID(reference))
        except ValueError:
            pass
        if len(reference) < MIN_ID_PREFIX or not all(c in "0123456789abcdef-" for c in reference):
            raise InvalidInputError(
                f"“{reference[:40]}” is not a memory id: give the id a listing shows "
                f"(at least {MIN_ID_PREFIX} of its first characters)"
            )
        matches = await self.store.fetch(user_id, "id::text LIKE %s", (reference + "%",), limit=2)
        if len(matches) > 1:
            raise InvalidInputError(f"{reference} matches several memories; give more of the id")
        if not matches:
            raise NotFoundError(f"no memory has an id starting with {reference}")
        return matches[0]

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

    async def overview(self, user_id: uuid.UUID, *, page: int = 50, turns: int = 5) -> MemoryOverview:
        """Every kind of memory with its full count, and a page of each (what listings show)."""
        return await overview(self.store, user_id, page=page, turns=turns)

    async def turns_by_thread(self, user_id: uuid.UUID) -> list[ThreadTurns]:
        """How many turns of each conversation episodic memory keeps, newest conversation first."""
        return await turns_by_thread(self.store, user_id)

    async def sources(self, user_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> list[Message]:
        """The user's messages a memory came from (those still stored)."""
        return await self._messages(user_id, ids)

    async def last_event(self, user_id: uuid.UUID, memory_id: uuid.UUID, action: str) -> uuid.UUID | None:
        """The newest audit event of this action on the memory (to offer undoing it)."""
        events = await self.store.events(user_id, memory_id=memory_id, limit=20)
        return next((e.id for e in events if e.action == action and e.undone_at is None), None)

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
        query = text_input.query(query)
        (vector,) = await self.embedder.queries([query])
        rows = await self.store.fetch(
            user_id,
            "embedding IS NOT NULL AND valid_from <= %s AND (valid_to IS NULL OR valid_to > %s) AND said_at <= %s",
            [as_of, as_of, as_of, np.asarray(vector, dtype=np.float32)],
            order="embedding <=> %s",
            limit=limit,
        )
        return [SearchHit(m, 1.0 / (rank + 1), rank + 1, None, None) for rank, m in enumerate(rows)]

    # -- forgetting (final): memory/long_term/forgetting.py says what goes ---------------------
    @property
    def at_rest(self) -> AtRest:
        """The pass that takes forgotten text out of Postgres's files, after the reply (memory/db/at_rest.py)."""
        return self.forgetter.at_rest

    def on_forget(self, hook: ForgetHook) -> None:
        """Call ``hook`` after every forgetting, to drop queued work or caches that may carry the text."""
        self.forgetter.hooks.append(hook)

    async def _forget_term_stats(self, _forgotten: object) -> int:
        self.searcher.term_stats.invalidate()  # the lexemes it holds were read before the forgetting
        return 0

    async def forget_preview(self, user_id: uuid.UUID, memory_ids: Sequence[uuid.UUID]) -> ForgetPreview:
        """What ``forget`` would take besides these memories (turns, memories drawn from them); changes nothing."""
        return await self.forgetter.preview(user_id, memory_ids)

    async def forget(self, user_id: uuid.UUID, memory_ids: Sequence[uuid.UUID], *, reason: str = "") -> ForgetReport:
        """Forget these memories, the turns they record or were drawn from, and all drawn from those turns."""
        return await self.forgetter.memories(user_id, memory_ids)

    async def forget_all(self, user_id: uuid.UUID, *, conversations: bool = False) -> ForgetReport:
        """Every memory, rolling summary and context report of the user, and the text of every turn (the
        threads stay, their turns reading "(forgotten)"); with ``conversations``, the threads go too."""
        return await self.forgetter.everything(user_id, conversations=conversations)

    async def erase_user(self, user_id: uuid.UUID) -> ForgetReport:
        """The user and everything of theirs, in every table and key."""
        return await self.forgetter.everything(user_id, conversations=True, erase_user=True)

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
        """Forget every memory that came from this thread, and its turns' text (before deleting it)."""
        return await self.forgetter.thread(user_id, thread_id, delete=False, memories=True)

    async def delete_thread(self, user_id: uuid.UUID, thread_id: uuid.UUID, *, forget_memories: bool) -> ForgetReport:
        """Delete a conversation; its turns leave every other context report too. With ``forget_memories``
        the facts drawn from it go as well (otherwise they stay)."""
        return await self.forgetter.thread(user_id, thread_id, delete=True, memories=forget_memories)
