"""What a memory tier hands the context manager: items with their text, score and provenance."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

ItemKind = Literal["turn", "summary", "memory", "pinned", "document"]


@dataclass(frozen=True)
class RecalledItem:
    """One candidate for the model's context, ranked by its tier (best first)."""

    id: str
    kind: ItemKind
    text: str
    score: float | None = None
    reason: str = ""
    thread_id: uuid.UUID | None = None
    message_ids: tuple[uuid.UUID, ...] = field(default_factory=tuple)
    created_at: datetime | None = None
    role: str | None = None  # for conversation turns: who said it
    # Turns of one conversation may share an item: a header (their date) once, then one line each.
    group_key: str | None = None
    group_header: str | None = None
    line: str | None = None
    order: int = 0  # position within the group (time order)
    source: str | None = None  # for document excerpts: document name, page, section (for citations)
    below_floor: bool = False  # found, but not relevant enough to be used (see memory/relevance.py)
