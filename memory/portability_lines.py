"""The lines of the export format (JSON Lines), validated at the edge with pydantic.

One JSON object per line, each with a ``type``; see docs/export-format.md. Readers
ignore fields they do not know, so later versions can add fields. Only ``type``
and the text of a memory or message are required; everything else has a default,
so other tools can write files we import.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from memory import text_input
from memory.errors import InvalidInputError
from memory.long_term.records import MemoryOrigin

FORMAT_VERSION = 1
INT4 = 2**31 - 1


def _checked(check: Callable[[], str]) -> str:
    """The boundary's verdict as a pydantic error (so it names the line and the field)."""
    try:
        return check()
    except InvalidInputError as exc:
        raise ValueError(exc.message) from None


def _max_message(info: ValidationInfo) -> int:
    context = info.context if isinstance(info.context, dict) else {}
    return int(context.get("max_message_chars", text_input.MAX_MESSAGE_CHARS))


def _short(value: str | None, what: str, limit: int = 500) -> str | None:
    if value is None:
        return None
    return _checked(lambda: text_input.free_text(value, what, max_chars=limit, allow_empty=True))


def _now() -> datetime:
    return datetime.now(UTC)


class _Line(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    created_at: datetime = Field(default_factory=_now)


class ThreadLine(_Line):
    type: Literal["thread"] = "thread"
    name: str | None = None
    title: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    updated_at: datetime | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return None if value is None else _checked(lambda: text_input.name(value, "a thread name"))

    @field_validator("title")
    @classmethod
    def _title(cls, value: str | None) -> str | None:
        return _short(value, "a thread title")


class MessageLine(_Line):
    type: Literal["message"] = "message"
    thread_id: uuid.UUID
    role: Literal["user", "assistant", "system"]
    speaker: str | None = None
    content: str
    status: Literal["complete", "partial", "error", "forgotten"] = "complete"
    model: str | None = None
    usage: dict[str, Any] | None = None
    latency_ms: float | None = Field(None, ge=0, le=1e12)
    external_id: str | None = None
    remember: bool = True
    private: bool = False

    @field_validator("content")
    @classmethod
    def _clean(cls, value: str, info: ValidationInfo) -> str:
        limit = _max_message(info)
        return _checked(lambda: text_input.free_text(value, "the message", max_chars=limit, allow_empty=True))

    @field_validator("speaker", "model", "external_id")
    @classmethod
    def _labels(cls, value: str | None) -> str | None:
        return _short(value, "a label")


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
    def _clean(cls, value: str, info: ValidationInfo) -> str:
        # A fact is held to the memory limit; a conversation turn (episodic) to the message limit.
        if info.data.get("kind") == "semantic":
            return _checked(lambda: text_input.memory_text(value))
        limit = _max_message(info)
        return _checked(lambda: text_input.free_text(value, "a memory", max_chars=limit))

    @field_validator("speaker", "role")
    @classmethod
    def _labels(cls, value: str | None) -> str | None:
        return _short(value, "a label")


class EventLine(_Line):
    type: Literal["event"] = "event"
    memory_id: uuid.UUID | None = None
    action: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    reason: str | None = None
    message_id: uuid.UUID | None = None
    undone_at: datetime | None = None

    @field_validator("action", "reason")
    @classmethod
    def _labels(cls, value: str | None) -> str | None:
        return _short(value, "an event's text")


class ChunkLine(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    ordinal: int = Field(ge=0, le=INT4)
    text: str
    page: int | None = Field(None, ge=0, le=INT4)
    section: str | None = None
    token_count: int = Field(0, ge=0, le=INT4)
    content_hash: str = ""

    @field_validator("text")
    @classmethod
    def _clean(cls, value: str) -> str:
        return _checked(lambda: text_input.free_text(value, "a document excerpt", max_chars=100_000))

    @field_validator("section", "content_hash")
    @classmethod
    def _labels(cls, value: str | None) -> str | None:
        return _short(value, "a document section", 2000)


class DocumentLine(_Line):
    type: Literal["document"] = "document"
    thread_id: uuid.UUID | None = None
    name: str
    format: str = "text"
    size_bytes: int = Field(0, ge=0, le=2**62)
    content_hash: str = ""
    pages: int | None = Field(None, ge=0, le=INT4)
    updated_at: datetime | None = None
    chunks: list[ChunkLine] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        # The same rule as a document added in the chat or the CLI: its own name, no folders.
        return _checked(lambda: text_input.document_name(value))

    @field_validator("format", "content_hash")
    @classmethod
    def _labels(cls, value: str) -> str:
        return _short(value, "a document's format", 100) or ""


Line = ThreadLine | MessageLine | MemoryLine | EventLine | DocumentLine
LINE_TYPES: dict[str, type[_Line]] = {
    "thread": ThreadLine,
    "message": MessageLine,
    "memory": MemoryLine,
    "event": EventLine,
    "document": DocumentLine,
}
