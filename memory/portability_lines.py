"""The lines of the export format (JSON Lines), validated at the edge with pydantic.

One JSON object per line, each with a ``type``; see docs/export-format.md. Readers
ignore fields they do not know, so later versions can add fields. Only ``type``
and the text of a memory or message are required; everything else has a default,
so other tools can write files we import.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from memory.long_term.records import MemoryOrigin

FORMAT_VERSION = 1


def _now() -> datetime:
    return datetime.now(UTC)


class _Line(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    created_at: datetime = Field(default_factory=_now)


def _text(value: str) -> str:
    value = value.replace("\x00", "")
    if not value.strip():
        raise ValueError("empty text")
    return value


class ThreadLine(_Line):
    type: Literal["thread"] = "thread"
    name: str | None = None
    title: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    updated_at: datetime | None = None


class MessageLine(_Line):
    type: Literal["message"] = "message"
    thread_id: uuid.UUID
    role: Literal["user", "assistant", "system"]
    speaker: str | None = None
    content: str
    status: Literal["complete", "partial", "error", "forgotten"] = "complete"
    model: str | None = None
    usage: dict[str, Any] | None = None
    latency_ms: float | None = None
    external_id: str | None = None
    remember: bool = True
    private: bool = False

    @field_validator("content")
    @classmethod
    def _clean(cls, value: str) -> str:
        return value.replace("\x00", "")


class MemoryLine(_Line):
    type: Literal["memory"] = "memory"
    kind: Literal["episodic", "semantic"] = "semantic"
    text: str
    pinned: bool = False
    speaker: str | None = None
    role: str | None = None
    thread_id: uuid.UUID | None = None
    message_id: uuid.UUID | None = None
    sources: list[uuid.UUID] = Field(default_factory=list)
    said_at: datetime | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    previous_id: uuid.UUID | None = None
    importance: float = Field(0.5, ge=0, le=1)
    updated_at: datetime | None = None
    origin: MemoryOrigin | None = None  # where it came from; None on import: "imported"

    @field_validator("text")
    @classmethod
    def _clean(cls, value: str) -> str:
        return _text(value)


class EventLine(_Line):
    type: Literal["event"] = "event"
    memory_id: uuid.UUID | None = None
    action: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    reason: str | None = None
    message_id: uuid.UUID | None = None
    undone_at: datetime | None = None


class ChunkLine(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    ordinal: int
    text: str
    page: int | None = None
    section: str | None = None
    token_count: int = 0
    content_hash: str = ""


class DocumentLine(_Line):
    type: Literal["document"] = "document"
    thread_id: uuid.UUID | None = None
    name: str
    format: str = "text"
    size_bytes: int = 0
    content_hash: str = ""
    pages: int | None = None
    updated_at: datetime | None = None
    chunks: list[ChunkLine] = Field(default_factory=list)


Line = ThreadLine | MessageLine | MemoryLine | EventLine | DocumentLine
LINE_TYPES: dict[str, type[_Line]] = {
    "thread": ThreadLine,
    "message": MessageLine,
    "memory": MemoryLine,
    "event": EventLine,
    "document": DocumentLine,
}
