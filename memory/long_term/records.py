"""Rows of long-term memory (pydantic at the database edge)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

MemoryKind = Literal["episodic", "semantic"]
MemoryOrigin = Literal["chat", "command", "mcp", "cli", "extracted", "imported"]
# Where a memory came from, as the listings say it.
ORIGIN_LABELS: dict[str, str] = {
    "chat": "said in chat",
    "command": "remembered with /remember",
    "mcp": "added over MCP",
    "cli": "added with the CLI",
    "extracted": "extracted from a conversation",
    "imported": "imported",
}

MEMORY_COLUMNS = (
    "id, user_id, kind, pinned, text, speaker, role, thread_id, message_id, seq, source_message_ids, said_at, "
    "valid_from, valid_to, previous_id, importance, created_at, updated_at, origin"
)


class MemoryRecord(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: uuid.UUID
    user_id: uuid.UUID
    kind: MemoryKind
    pinned: bool
    text: str
    speaker: str | None
    role: str | None
    thread_id: uuid.UUID | None
    message_id: uuid.UUID | None
    seq: int | None
    source_message_ids: list[uuid.UUID]
    said_at: datetime
    valid_from: datetime
    valid_to: datetime | None
    previous_id: uuid.UUID | None
    importance: float
    created_at: datetime
    updated_at: datetime
    origin: MemoryOrigin

    @property
    def current(self) -> bool:
        return self.valid_to is None

    @property
    def origin_label(self) -> str:
        return ORIGIN_LABELS[self.origin]

    def audit_view(self) -> dict[str, Any]:
        """What an audit event keeps of the memory (erased if it is forgotten)."""
        return self.model_dump(mode="json", include={"text", "pinned", "kind", "speaker", "valid_from", "valid_to"})


class MemoryEvent(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: uuid.UUID
    user_id: uuid.UUID
    memory_id: uuid.UUID | None
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None
    message_id: uuid.UUID | None
    undone_at: datetime | None
    created_at: datetime


EVENT_COLUMNS = "id, user_id, memory_id, action, before, after, reason, message_id, undone_at, created_at"
