"""The memory manager in the browser: routes behind ``public/memory_manager.js`` and the ``/memories`` command.

The page's manager lists what is remembered about the signed-in user, grouped by kind and with where each
memory came from, and changes it only through the runtime's memory service: edit, pin or unpin (each with an
undo), forget (after showing what goes with it; final). Reading for display writes nothing, so the manager
works the same while memory is off or the chat is temporary.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import chainlit as cl
from chainlit.auth import get_current_user
from fastapi import Depends, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from assistant.providers.profile import extraction_status
from assistant.runtime import Runtime
from assistant.web import render, session, state
from memory.conversations import Message, User
from memory.errors import AssistantError, InvalidInputError, NotFoundError, describe
from memory.long_term.records import MemoryRecord

PREFIX = "/assistant/memories"
PAGE = 500  # memories of each kind sent to the page (the counts are always complete)
UNTITLED = "Untitled conversation"


class EditBody(BaseModel):
    text: str = Field(max_length=20_000)


class PinBody(BaseModel):
    pinned: bool


class IdsBody(BaseModel):
    ids: list[uuid.UUID] = Field(min_length=1, max_length=1000)


class UndoBody(BaseModel):
    event: uuid.UUID


# -- what the page shows ------------------------------------------------------------------------
def _item(
    memory: MemoryRecord, tz: str | None, titles: dict[uuid.UUID, str], sources: dict[uuid.UUID, Message]
) -> dict[str, Any]:
    source = next((sources[s] for s in memory.source_message_ids if s in sources), None)
    thread_id = memory.thread_id or (source.thread_id if source else None)
    return {
        "id": str(memory.id),
        "short_id": str(memory.id)[:8],
        "kind": memory.kind,
        "pinned": memory.pinned,
        "text": memory.text,
        "who": ("you" if memory.role == "user" else memory.speaker or memory.role)
        if memory.kind == "episodic"
        else None,
        "origin": memory.origin_label,
        "date": render.when(memory.said_at, tz),
        "thread_id": str(thread_id) if thread_id else None,
        "thread_title": titles.get(thread_id, UNTITLED) if thread_id else None,
        "source_excerpt": render.short(source.content, 160) if source and memory.kind == "semantic" else None,
    }


async def listing(runtime: Runtime, owner: User) -> dict[str, Any]:
    """Everything the manager shows: pinned memories and facts in full pages, turns counted per conversation."""
    prefs = session.Preferences.of(await runtime.conversations.preferences(owner.id))
    found = await runtime.memories.overview(owner.id, page=PAGE, turns=0)
    kept = [*found.pinned.memories, *found.facts.memories]
    source_ids = list(dict.fromkeys(s for m in kept for s in m.source_message_ids))
    sources = {m.id: m for m in await runtime.memories.sources(owner.id, source_ids)} if source_ids else {}
    threads = await runtime.conversations.list_threads(owner.id, limit=1000)
    titles = {t.id: t.title or t.name or UNTITLED for t in threads}
    turns = await runtime.memories.turns_by_thread(owner.id)
    extracting, why = extraction_status(runtime.settings)

    def item(memory: MemoryRecord) -> dict[str, Any]:
        return _item(memory, prefs.timezone, titles, sources)

    return {
        "memory_on": prefs.memory,
        "extraction": {"on": extracting, "why": why},
        "pinned": {"total": found.pinned.total, "items": [item(m) for m in found.pinned.memories]},
        "facts": {"total": found.facts.total, "items": [item(m) for m in found.facts.memories]},
        "turns": {
            "total": found.turns.total,
            "threads": [
                {
                    "thread_id": str(t.thread_id) if t.thread_id else None,
                    "title": (titles.get(t.thread_id) or t.title or UNTITLED) if t.thread_id else "Imported turns",
                    "turns": t.turns,
                    "last": render.when(t.last, prefs.timezone),
                }
                for t in turns
            ],
        },
        "superseded": found.superseded.total,
    }


async def matching_turns(runtime: Runtime, owner: User, query: str, *, limit: int = 20) -> list[dict[str, Any]]:
    """Conversation turns that match the search (as ``/recall`` finds them); pinned memories and facts are
    all on the page already and are filtered there."""
    if not query.strip():
        return []
    prefs = session.Preferences.of(await runtime.conversations.preferences(owner.id))
    hits = await runtime.memories.search(owner.id, query[:500], limit=limit)
    turns = [h.memory for h in hits if h.memory.kind == "episodic" and not h.memory.pinned]
    threads = await runtime.conversations.list_threads(owner.id, limit=1000)
    titles = {t.id: t.title or t.name or UNTITLED for t in threads}
    return [_item(m, prefs.timezone, titles, {}) for m in turns]


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


# -- the routes ---------------------------------------------------------------------------------
async def _owner(current_user: Any) -> tuple[Runtime, User]:
    if current_user is None:
        raise HTTPException(status_code=401, detail="Sign in to see your memories.")
    runtime = state.runtime()
    return runtime, await runtime.conversations.ensure_user(current_user.identifier)


def _failed(exc: AssistantError) -> JSONResponse:
    status = 404 if isinstance(exc, NotFoundError) else 400
    return JSONResponse({"detail": describe(exc)}, status_code=status)


async def _current(runtime: Runtime, owner: User, memory_id: uuid.UUID) -> MemoryRecord:
    memory = await runtime.memories.find(owner.id, str(memory_id))
    if not memory.current:
        raise InvalidInputError("this memory was changed meanwhile; the list is reloaded")
    return memory


async def get_memories(current_user: Any = Depends(get_current_user)) -> Any:
    try:
        runtime, owner = await _owner(current_user)
        return await listing(runtime, owner)
    except AssistantError as exc:
        return _failed(exc)


async def search_turns(q: str = "", current_user: Any = Depends(get_current_user)) -> Any:
    try:
        runtime, owner = await _owner(current_user)
        return {"turns": await matching_turns(runtime, owner, q)}
    except AssistantError as exc:
        return _failed(exc)


async def edit_memory(memory_id: uuid.UUID, body: EditBody, current_user: Any = Depends(get_current_user)) -> Any:
    try:
        runtime, owner = await _owner(current_user)
        old = await _current(runtime, owner, memory_id)
        new = await runtime.memories.edit(owner.id, old.id, body.text, reason="edited in the memory manager")
        event = await runtime.memories.last_event(owner.id, new.id, "update")
        return {"id": str(new.id), "undo": str(event) if event else None, "message": "Memory changed."}
    except AssistantError as exc:
        return _failed(exc)


async def pin_memory(memory_id: uuid.UUID, body: PinBody, current_user: Any = Depends(get_current_user)) -> Any:
    try:
        runtime, owner = await _owner(current_user)
        old = await _current(runtime, owner, memory_id)
        if old.pinned == body.pinned:
            return {"id": str(old.id), "undo": None, "message": "Nothing to change."}
        await runtime.memories.set_pinned(owner.id, old.id, body.pinned)
        action = "pin" if body.pinned else "unpin"
        event = await runtime.memories.last_event(owner.id, old.id, action)
        message = "Pinned: always in my context." if body.pinned else "Unpinned: recalled only when relevant."
        return {"id": str(old.id), "undo": str(event) if event else None, "message": message}
    except AssistantError as exc:
        return _failed(exc)


async def forget_preview(body: IdsBody, current_user: Any = Depends(get_current_user)) -> Any:
    try:
        runtime, owner = await _owner(current_user)
        preview = await runtime.memories.forget_preview(owner.id, body.ids)
        return {"count": preview.chosen, "also": preview.in_words()}
    except AssistantError as exc:
        return _failed(exc)


async def forget_memories(body: IdsBody, current_user: Any = Depends(get_current_user)) -> Any:
    try:
        runtime, owner = await _owner(current_user)
        report = await runtime.memories.forget(owner.id, body.ids, reason="forgotten in the memory manager")
        return {"message": report.in_words()}
    except AssistantError as exc:
        return _failed(exc)


async def undo_change(body: UndoBody, current_user: Any = Depends(get_current_user)) -> Any:
    try:
        runtime, owner = await _owner(current_user)
        event = await runtime.memories.undo(owner.id, body.event)
        words = {"update": "the edit", "pin": "pinning", "unpin": "unpinning"}.get(event.action, "the change")
        return {"message": f"Undone: {words} was reverted."}
    except AssistantError as exc:
        return _failed(exc)


ROUTES: Sequence[tuple[str, Any, str]] = (
    (PREFIX, get_memories, "GET"),
    (PREFIX + "/search", search_turns, "GET"),
    (PREFIX + "/forget-preview", forget_preview, "POST"),
    (PREFIX + "/forget", forget_memories, "POST"),
    (PREFIX + "/undo", undo_change, "POST"),
    (PREFIX + "/{memory_id}/edit", edit_memory, "POST"),
    (PREFIX + "/{memory_id}/pin", pin_memory, "POST"),
)


def mount() -> None:
    """Add the manager's routes to Chainlit's server (before its catch-all route for the page)."""
    from chainlit.server import app

    present = {getattr(route, "path", None) for route in app.router.routes}
    for path, endpoint, method in ROUTES:
        if path not in present:
            app.add_api_route(path, endpoint, methods=[method])
            # Chainlit serves its page for every other GET path: ours must be matched first.
            app.router.routes.insert(0, app.router.routes.pop())


# -- the command --------------------------------------------------------------------------------
async def open_manager(owner: User, _: str) -> None:
    """``/memories``: opens the manager over the chat (the element opens it once; its button opens it again)."""
    found = await state.runtime().memories.overview(owner.id, page=0, turns=0)
    kinds = [
        _count(found.pinned.total, "pinned memory", "pinned memories"),
        _count(found.facts.total, "fact"),
        _count(found.turns.total, "conversation turn"),
    ]
    element = cl.CustomElement(name="OpenMemories", props={"token": str(uuid.uuid4())}, display="inline")
    text = f"Memory manager: {', '.join(kinds)}. The Memories button at the top right opens it too."
    await cl.Message(content=text, elements=[element]).send()
