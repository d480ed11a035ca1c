"""Memory notices in the chat: what a turn or a command changed in memory, each with an Undo button."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import chainlit as cl

from assistant.web import render, session, state
from memory.conversations import User
from memory.errors import AssistantError, describe

MANAGER_REASON = "in the memory manager"  # the reason memory_manager.py gives its changes
REMEMBER_REASON = "/remember in the chat"  # the /remember command announces its own change
NOTICE_WORDS = {"add": "📌 Remembered", "update": "✏️ Updated memory", "invalidate": "🗃️ No longer current"}


async def _say(text: str, *, actions: list[cl.Action] | None = None) -> None:
    await cl.Message(content=text, actions=actions or []).send()


async def memory_notice(text: str, event_id: uuid.UUID | None) -> None:
    actions = []
    if event_id is not None:
        actions.append(cl.Action(name="undo_memory", payload={"event": str(event_id)}, label="Undo", icon="undo-2"))
    await _say(text, actions=actions)


def _announced(reason: str | None) -> bool:
    """Changes the user has seen already: announced by the command, or made in the memory manager."""
    return reason == REMEMBER_REASON or (reason or "").endswith(MANAGER_REASON)


async def memory_notices(owner: User) -> None:
    """A small notice, with an undo button, for each memory added or changed since the last look."""
    seen = cl.user_session.get("memory_seen")
    now = datetime.now(UTC)
    cl.user_session.set("memory_seen", now.isoformat())
    if seen is None:
        return
    since = datetime.fromisoformat(str(seen))
    for notice in await state.assistant().notices(owner.id, since, announced=_announced):
        await memory_notice(f"{NOTICE_WORDS[notice.action]}: “{render.short(notice.text, 160)}”", notice.event_id)


@cl.action_callback("undo_memory")
async def _undo(action: cl.Action) -> None:
    owner = await session.user()
    try:
        event = await state.assistant().memories.undo(owner.id, uuid.UUID(str(action.payload.get("event"))))
    except (AssistantError, ValueError) as exc:
        await _say(f"⚠️ {describe(exc) if isinstance(exc, AssistantError) else 'that change cannot be undone'}")
        return
    await action.remove()
    await _say(f"↩️ Undone: the memory change ({event.action}) was reverted.")
