"""The tools and resources: search, remember, forget, list, a budgeted context block; memories as resources."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable
from typing import Any, Literal, TypeVar

from mcp.server.fastmcp import FastMCP
from mcp.server.fastmcp.exceptions import ToolError
from mcp.types import ToolAnnotations

from assistant.mcp.context_block import context_block
from assistant.mcp.scope import Scope
from memory.errors import AssistantError, describe
from memory.long_term.records import MemoryRecord

T = TypeVar("T")
USER_HELP = "Leave out: the connection's own user. Naming another user is refused."
READ_ONLY = ToolAnnotations(readOnlyHint=True, openWorldHint=False)


def memory_view(memory: MemoryRecord, score: float | None = None) -> dict[str, Any]:
    data = memory.model_dump(
        mode="json",
        include={"id", "kind", "pinned", "text", "speaker", "said_at", "valid_from", "valid_to", "thread_id", "origin"},
    )
    data["came_from"] = memory.origin_label
    data["sources"] = [str(m) for m in memory.source_message_ids]
    if score is not None:
        data["score"] = round(score, 6)
    return data


async def _checked(work: Awaitable[T]) -> T:
    try:
        return await work
    except AssistantError as exc:
        raise ToolError(describe(exc)) from None


def _memory_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text.strip())
    except ValueError:
        raise ToolError(f"not a memory id: {text!r}") from None


def register(server: FastMCP, scope: Scope) -> None:
    @server.tool(annotations=READ_ONLY)
    async def search_memory(query: str, limit: int = 10, user: str | None = None) -> list[dict[str, Any]]:
        """Search the user's memories (conversation turns, facts, pinned notes) by meaning and words, best first."""
        caller = await scope.caller(user)
        hits = await _checked(scope.app.memories.search(caller.id, query, limit=max(1, min(limit, 100))))
        return [memory_view(h.memory, h.score) for h in hits]

    @server.tool(annotations=READ_ONLY)
    async def list_memories(
        limit: int = 20, kind: Literal["episodic", "semantic", "pinned"] | None = None, user: str | None = None
    ) -> list[dict[str, Any]]:
        """List the user's current memories, newest first; kind: episodic (turns), semantic (facts) or pinned."""
        caller = await scope.caller(user)
        memories = await _checked(scope.app.list_memories(caller.id, kind=kind, limit=max(1, min(limit, 200))))
        return [memory_view(m) for m in memories]

    @server.tool(annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=False, openWorldHint=False))
    async def remember(text: str, pinned: bool = True, user: str | None = None) -> dict[str, Any]:
        """Store a memory for the user; pinned ones are in the assistant's context every turn. Text already stored
        updates that memory instead of adding a copy: then "created" is false and "outcome" says what changed."""
        caller = await scope.caller(user)
        record = await _checked(
            scope.app.memories.remember(caller.id, text, pinned=pinned, reason="stated through MCP", origin="mcp")
        )
        return {**memory_view(record), "created": record.created, "outcome": record.outcome}

    @server.tool(annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=True, openWorldHint=False))
    async def forget(
        memory_id: str | None = None, query: str | None = None, confirm: bool = False, user: str | None = None
    ) -> dict[str, Any]:
        """Forget memories of the user for good: one by its id (from search_memory or list_memories), or those
        that match a query (its words, or close in meaning), each with the conversation turns it records or was
        drawn from and everything else drawn from those turns. With a query, nothing goes until confirm=true:
        first call without it to see what would be forgotten (the user should see that list)."""
        caller = await scope.caller(user)
        if (memory_id is None) == (query is None):
            raise ToolError("give either memory_id or query")
        if query is not None:
            hits = await _checked(scope.app.memories.search(caller.id, query, limit=100))
            ids = [h.memory.id for h in hits]
            if not hits or not confirm:
                preview = await _checked(scope.app.memories.forget_preview(caller.id, ids)) if ids else None
                return {
                    "forgotten": 0,
                    "would_forget": [memory_view(h.memory) for h in hits],
                    "also": preview.in_words() if preview else "",
                    "query": query,
                }
            report = await _checked(scope.app.memories.forget(caller.id, ids, reason="through MCP"))
            return {
                "forgotten": report.memories,
                "ids": [str(i) for i in ids],
                "query": query,
                **report.as_dict(),
                "message": report.in_words(),
            }
        assert memory_id is not None
        report = await _checked(scope.app.memories.forget(caller.id, [_memory_id(memory_id)], reason="through MCP"))
        return {"forgotten": report.memories, "id": memory_id, **report.as_dict(), "message": report.in_words()}

    @server.tool(annotations=READ_ONLY)
    async def get_context(query: str, max_tokens: int = 800, user: str | None = None) -> dict[str, Any]:
        """A context block for a prompt: the user's pinned memories and what is relevant to the query, within
        max_tokens (50 to 8000). Returns the text plus each recalled item's score and reason."""
        caller = await scope.caller(user)
        return await _checked(context_block(scope.app.runtime, caller.id, query, max_tokens))

    @server.resource("memory://memories", name="memories", mime_type="application/json")
    async def current_memories() -> str:
        """The user's current memories, newest first (up to 200)."""
        caller = await scope.caller()
        memories = await _checked(scope.app.memories.list_memories(caller.id, limit=200))
        return json.dumps([memory_view(m) for m in memories], ensure_ascii=False)

    @server.resource("memory://pinned", name="pinned memories", mime_type="application/json")
    async def pinned_memories() -> str:
        """What the user asked the assistant to always remember."""
        caller = await scope.caller()
        return json.dumps([memory_view(m) for m in await _checked(scope.app.pinned(caller.id))])

    @server.resource("memory://memories/{memory_id}", name="memory", mime_type="application/json")
    async def one_memory(memory_id: str) -> str:
        """One memory with the messages it came from and its versions."""
        caller = await scope.caller()
        detail = await _checked(scope.app.memories.show(caller.id, _memory_id(memory_id)))
        return json.dumps(
            {
                "memory": memory_view(detail.memory),
                "sources": [
                    {"id": str(m.id), "role": m.role, "content": m.content, "at": m.created_at.isoformat()}
                    for m in detail.sources
                ],
                "versions": [memory_view(v) for v in detail.versions],
            },
            ensure_ascii=False,
        )

    _ = (search_memory, list_memories, remember, forget, get_context, current_memories, pinned_memories, one_memory)
