"""How memories look on the command line (tables) and in --json (dicts), and finding one by id prefix."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Table

from assistant.cli.common import console

if TYPE_CHECKING:
    from assistant.application.facade import Assistant
    from memory.long_term.records import MemoryEvent, MemoryRecord


def memory_row(memory: MemoryRecord, score: float | None = None) -> dict[str, Any]:
    data = memory.model_dump(mode="json", exclude={"user_id"})
    data["came_from"] = memory.origin_label
    if score is not None:
        data["score"] = round(score, 6)
    return data


def event_row(event: MemoryEvent) -> dict[str, Any]:
    return event.model_dump(mode="json", exclude={"user_id"})


def memory_table(rows: list[dict[str, Any]], title: str) -> None:
    table = Table("id", "text", "came from", "said", "current", title=title, show_lines=False)
    for row in rows:
        text = (f"{row['speaker'] or row['role'] or ''}: " if row["kind"] == "episodic" else "") + row["text"]
        came_from = row["came_from"] + (", pinned" if row["pinned"] else "")
        current = "yes" if not row["valid_to"] else "no"
        table.add_row(row["id"][:8], escape(text[:200]), came_from, row["said_at"][:10], current)
    console.print(table)


def event_table(rows: list[dict[str, Any]], title: str) -> None:
    table = Table("event", "when", "action", "memory", "change", "reason", title=title)
    for row in rows:
        before = (row.get("before") or {}).get("text")
        after = (row.get("after") or {}).get("text")
        change = f"{before} -> {after}" if before and after and before != after else (after or before or "")
        action = row["action"] + (" (undone)" if row["undone_at"] else "")
        table.add_row(
            row["id"][:8],
            row["created_at"][:19],
            action,
            (row["memory_id"] or "")[:8],
            escape(change[:120]),
            escape(row["reason"] or ""),
        )
    console.print(table)


async def find_memory(app: Assistant, user_id: uuid.UUID, reference: str) -> MemoryRecord:
    """A memory of the user by full id or its first characters (old versions included)."""
    return await app.memories.find(user_id, reference)


async def find_event(app: Assistant, user_id: uuid.UUID, reference: str) -> uuid.UUID:
    """An audit event of the user by full id or its first characters."""
    return await app.find_event(user_id, reference)
