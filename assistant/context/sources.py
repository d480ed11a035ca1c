"""The stores the built-in context tiers read (assistant/context/tiers/); empty ones ship here."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Protocol

from memory.recall import RecalledItem


class CoreMemorySource(Protocol):
    async def pinned(self, user_id: uuid.UUID) -> list[RecalledItem]:
        """The user's pinned memories, always wanted in context."""
        ...


class LongTermSource(Protocol):
    async def recall(
        self, user_id: uuid.UUID, query: str, *, now: datetime, exclude: Collection[uuid.UUID], limit: int
    ) -> list[RecalledItem]:
        """Memories relevant to ``query``, best first, leaving out items from the ``exclude``d messages; then
        candidates below the relevance floor, marked ``below_floor`` (only counted in the report)."""
        ...

    async def warm(self, user_id: uuid.UUID, query: str) -> None:
        """Start the slow part of recalling ``query`` (its embedding), for a recall that comes soon after."""
        ...


class DocumentSource(Protocol):
    async def search(self, user_id: uuid.UUID, thread_id: uuid.UUID, query: str, *, limit: int) -> list[RecalledItem]:
        """Chunks of the user's documents relevant to ``query``, best first; then those below the relevance floor,
        marked ``below_floor``."""
        ...


class NothingYet:
    """A tier with nothing in it (until its store lands)."""

    async def pinned(self, user_id: uuid.UUID) -> list[RecalledItem]:
        return []

    async def recall(
        self, user_id: uuid.UUID, query: str, *, now: datetime, exclude: Collection[uuid.UUID], limit: int
    ) -> list[RecalledItem]:
        return []

    async def warm(self, user_id: uuid.UUID, query: str) -> None:
        return None

    async def search(self, user_id: uuid.UUID, thread_id: uuid.UUID, query: str, *, limit: int) -> list[RecalledItem]:
        return []
