"""What the user's memory holds, counted in full: what `/memory` shows (the lists are pages, the counts are not)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from memory.long_term.records import MemoryRecord
from memory.long_term.store import MemoryStore

_COUNTS = """
SELECT count(*) FILTER (WHERE valid_to IS NULL AND pinned),
       count(*) FILTER (WHERE valid_to IS NULL AND NOT pinned AND kind = 'semantic'),
       count(*) FILTER (WHERE valid_to IS NOT NULL),
       count(*) FILTER (WHERE valid_to IS NULL AND NOT pinned AND kind = 'episodic')
FROM memories WHERE user_id = %s
"""


@dataclass(frozen=True)
class Section:
    memories: list[MemoryRecord]  # newest first, at most the page asked for
    total: int  # how many there are in all

    @property
    def more(self) -> int:
        return self.total - len(self.memories)


@dataclass(frozen=True)
class MemoryOverview:
    pinned: Section  # always in context (facts, or turns the user pinned)
    facts: Section  # current facts, recalled when relevant
    superseded: Section  # versions replaced by an edit or contradicted, kept as history
    turns: Section  # conversation turns, recalled when relevant

    @property
    def empty(self) -> bool:
        return not (self.pinned.total or self.facts.total or self.superseded.total or self.turns.total)


async def overview(store: MemoryStore, user_id: uuid.UUID, *, page: int = 50, turns: int = 5) -> MemoryOverview:
    async with store.pool.connection() as conn:
        row = await (await conn.execute(_COUNTS, (user_id,))).fetchone()
    pinned, facts, superseded, turn_count = (int(n) for n in row) if row else (0, 0, 0, 0)
    current = "valid_to IS NULL AND "
    return MemoryOverview(
        pinned=Section(await store.fetch(user_id, current + "pinned", (), limit=page), pinned),
        facts=Section(await store.fetch(user_id, current + "NOT pinned AND kind = 'semantic'", (), limit=page), facts),
        superseded=Section(
            await store.fetch(user_id, "valid_to IS NOT NULL", (), order="valid_to DESC", limit=page), superseded
        ),
        turns=Section(
            await store.fetch(user_id, current + "NOT pinned AND kind = 'episodic'", (), limit=turns), turn_count
        ),
    )


_TURNS_BY_THREAD = """
SELECT m.thread_id, t.title, count(*), max(m.said_at)
FROM memories m LEFT JOIN threads t ON t.id = m.thread_id AND t.user_id = m.user_id
WHERE m.user_id = %s AND m.kind = 'episodic' AND m.valid_to IS NULL
GROUP BY m.thread_id, t.title ORDER BY max(m.said_at) DESC
LIMIT %s
"""


@dataclass(frozen=True)
class ThreadTurns:
    """How many turns of one conversation are kept as episodic memory (the memory manager's turn counts)."""

    thread_id: uuid.UUID | None
    title: str | None
    turns: int
    last: datetime


async def turns_by_thread(store: MemoryStore, user_id: uuid.UUID, *, limit: int = 200) -> list[ThreadTurns]:
    async with store.pool.connection() as conn:
        rows = await (await conn.execute(_TURNS_BY_THREAD, (user_id, limit))).fetchall()
    return [ThreadTurns(thread_id, title, int(count), last) for thread_id, title, count, last in rows]
