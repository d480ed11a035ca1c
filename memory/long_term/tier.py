"""Long-term memory as the context manager's tiers: pinned core memories, and recalled memories.

Recalled turns are rendered compactly (date, speaker, text) so more of them fit.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime

from memory.long_term.records import MemoryRecord
from memory.long_term.search import SearchHit
from memory.long_term.service import MemoryService
from memory.recall import RecalledItem


def short_date(moment: datetime) -> str:
    return f"{moment.day} {moment:%b %Y}"


def render_memory(memory: MemoryRecord) -> str:
    if memory.kind == "episodic":
        return f"({short_date(memory.said_at)}) {memory.speaker or memory.role}: {memory.text}"
    since = short_date(memory.valid_from)
    who = "" if memory.speaker in (None, "user") else f", said by {memory.speaker}"
    return f"{memory.text} (since {since}{who})"


def _reason(hit: SearchHit) -> str:
    parts = []
    if hit.vector_rank is not None:
        parts.append(f"meaning #{hit.vector_rank}")
    if hit.text_rank is not None:
        parts.append(f"words #{hit.text_rank}")
    return "matched by " + " and ".join(parts) if parts else "recalled"


class LongTermTier:
    def __init__(self, memories: MemoryService) -> None:
        self.memories = memories

    async def pinned(self, user_id: uuid.UUID) -> list[RecalledItem]:
        return [
            RecalledItem(
                id=str(m.id),
                kind="pinned",
                text=render_memory(m),
                score=None,
                reason="pinned by the user",
                message_ids=tuple(m.source_message_ids),
                created_at=m.said_at,
            )
            for m in await self.memories.pinned(user_id)
        ]

    async def recall(
        self, user_id: uuid.UUID, query: str, *, now: datetime, exclude: Collection[uuid.UUID], limit: int
    ) -> list[RecalledItem]:
        # Pinned memories are already in the core tier.
        hits = await self.memories.searcher.search(
            user_id, query, now=now, limit=limit, exclude=exclude, include_pinned=False
        )
        return [
            RecalledItem(
                id=str(hit.memory.id),
                kind="turn" if hit.memory.kind == "episodic" else "memory",
                text=render_memory(hit.memory),
                score=round(hit.score, 6),
                reason=_reason(hit),
                thread_id=hit.memory.thread_id,
                message_ids=tuple(hit.memory.source_message_ids),
                created_at=hit.memory.said_at,
                role=hit.memory.role,
            )
            for hit in hits
        ]
