"""Slash commands: listed when typing ``/``, each answered in the chat; bad use gets a clear message."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import chainlit as cl
from chainlit.types import CommandDict

from assistant.providers.profile import extraction_status
from assistant.runtime import Runtime
from assistant.web import render, session, state
from memory.conversations import User
from memory.errors import AssistantError, InvalidInputError, describe
from memory.long_term.overview import overview
from memory.long_term.records import MemoryRecord
from memory.long_term.service import Remembered

_COMMAND = re.compile(r"^/([A-Za-z][\w-]*)(?:\s+(.*))?$", re.DOTALL)
_HEX_PREFIX = re.compile(r"^[0-9a-fA-F-]{6,36}$")


@dataclass(frozen=True)
class Command:
    id: str
    usage: str
    description: str
    icon: str
    run: Callable[[User, str], Awaitable[None]]
    needs_argument: bool = False


async def say(text: str, *, actions: list[cl.Action] | None = None) -> cl.Message:
    message = cl.Message(content=text, actions=actions or [])
    await message.send()
    return message


async def _tz(owner: User) -> str | None:
    return (await session.preferences(owner)).timezone


# -- the commands -----------------------------------------------------------------------------
async def memory(owner: User, _: str) -> None:
    await say(await memory_listing(state.runtime(), owner, await _tz(owner)))


async def memory_listing(runtime: Runtime, owner: User, tz: str | None) -> str:
    found = await overview(runtime.memories.store, owner.id)
    return render.memories(found, extraction_status(runtime.settings), tz)


async def recall(owner: User, query: str) -> None:
    found = await state.runtime().memories.search(owner.id, query, limit=8)
    await say(render.hits(query, found, await _tz(owner)))


async def remember(owner: User, text: str) -> None:
    remembered = await remember_text(state.runtime(), owner, text)
    await memory_notice(render.remembered(remembered), remembered.event_id)


async def remember_text(runtime: Runtime, owner: User, text: str) -> Remembered:
    return await runtime.memories.remember(owner.id, text, reason="/remember in the chat", origin="command")


async def edit(owner: User, argument: str) -> None:
    new, event_id = await edit_memory(state.runtime(), owner, argument)
    await memory_notice(f"✏️ Changed: `{str(new.id)[:8]}` now says “{render.short(new.text, 200)}”", event_id)


async def edit_memory(runtime: Runtime, owner: User, argument: str) -> tuple[MemoryRecord, uuid.UUID | None]:
    """``/edit <id> <new text>``: a new version of the memory (the old one is kept as history)."""
    reference, _, text = argument.strip().partition(" ")
    if not text.strip():
        raise InvalidInputError("`/edit` needs a memory id and the new text: `/edit <id> <new text>`")
    old = await runtime.memories.find(owner.id, reference)
    new = await runtime.memories.edit(owner.id, old.id, text, reason="/edit in the chat")
    events = await runtime.memories.store.events(owner.id, memory_id=new.id)
    return new, next((e.id for e in events if e.action == "update"), None)


async def memory_notice(text: str, event_id: uuid.UUID | None) -> None:
    actions = []
    if event_id is not None:
        actions.append(cl.Action(name="undo_memory", payload={"event": str(event_id)}, label="Undo", icon="undo-2"))
    await say(text, actions=actions)


async def _candidates(owner: User, target: str) -> list[MemoryRecord]:
    memories = state.runtime().memories
    if _HEX_PREFIX.match(target):
        prefix = target.lower()
        everything = await memories.list_memories(owner.id, include_history=True, limit=5000)
        matched = [m for m in everything if str(m.id).startswith(prefix)]
        if matched:
            return matched
    # Only what matches (shared words, or close enough in meaning), as /recall shows it: not merely the nearest.
    return [h.memory for h in await memories.search(owner.id, target, limit=10)]


async def forget(owner: User, target: str) -> None:
    found = await _candidates(owner, target)
    if not found:
        await say(f"Nothing in memory matches “{render.short(target, 80)}”; nothing was forgotten.")
        return
    tz = await _tz(owner)
    lines = "\n".join(render.memory_line(m, tz) for m in found)
    ids = [str(m.id) for m in found]
    also = (await state.runtime().memories.forget_preview(owner.id, [m.id for m in found])).in_words()
    also = f"{also}\n\n" if also else ""
    await say(
        f"## These {len(found)} memories would be forgotten\n{lines}\n\n{also}"
        "Forgetting is final: they are deleted everywhere and cannot be undone.",
        actions=[
            cl.Action(name="forget_confirm", payload={"ids": ids}, label=f"Forget {len(found)}", icon="trash-2"),
            cl.Action(name="forget_cancel", payload={}, label="Keep them", icon="x"),
        ],
    )


async def context(owner: User, _: str) -> None:
    thread = await session.existing_thread(owner)
    report = render.report_of(await state.runtime().reports.last(thread)) if thread else None
    await say(render.context_report(report) if report else "No reply in this conversation yet, so no context report.")


async def summary(owner: User, _: str) -> None:
    thread = await session.existing_thread(owner)
    stored = await state.runtime().short_term.summaries.get(thread) if thread else None
    await say(render.summary(stored.content if stored else None, stored.covers_through_seq if stored else None))


async def stats(owner: User, _: str) -> None:
    thread = await session.existing_thread(owner)
    messages = await state.runtime().conversations.messages(thread) if thread else []
    await say(render.stats(messages))


async def docs(owner: User, _: str) -> None:
    from assistant.web import documents

    await documents.list_documents(owner)


async def export(owner: User, _: str) -> None:
    from assistant.web import exporting

    await exporting.export(owner)


async def memories(owner: User, _: str) -> None:
    from assistant.web import memory_manager

    await memory_manager.open_manager(owner, "")


async def private(owner: User, text: str) -> None:
    from assistant.web import turn

    await turn.run(owner, text, private=True)


async def help_(owner: User, _: str) -> None:
    lines = ["## Commands", *(f"- `{c.usage}` — {c.description}" for c in COMMANDS.values())]
    lines.append(
        "\nIn the settings panel (⚙️ next to the message box) you can turn memory off for this chat "
        "(temporary chat) or for everything, and choose the model, answer length and your time zone."
    )
    await say("\n".join(lines))


COMMANDS: dict[str, Command] = {
    c.id: c
    for c in (
        Command("memory", "/memory", "what I know about you, with ids and where each came from", "brain", memory),
        Command("memories", "/memories", "open the memory manager: search, edit, pin, forget", "library", memories),
        Command("recall", "/recall <query>", "search my memory", "search", recall, needs_argument=True),
        Command("remember", "/remember <text>", "pin a fact: always in my context", "pin", remember, True),
        Command(
            "edit", "/edit <id> <new text>", "change a memory; the old text stays as history", "pencil", edit, True
        ),
        Command("forget", "/forget <id or words>", "forget memories (asks first)", "eraser", forget, True),
        Command(
            "private",
            "/private <message>",
            "a message I answer once and never remember (kept in this chat, marked 🔒)",
            "eye-off",
            private,
            True,
        ),
        Command("context", "/context", "what my last reply was built from", "layers", context),
        Command("summary", "/summary", "this conversation's rolling summary", "scroll-text", summary),
        Command("docs", "/docs", "your uploaded documents", "file-text", docs),
        Command("export", "/export", "download everything stored about you (JSONL)", "download", export),
        Command("stats", "/stats", "tokens, cost and reply times of this conversation", "chart-column", stats),
        Command("help", "/help", "this list", "circle-help", help_),
    )
}


def listing() -> list[CommandDict]:
    return [
        {
            "id": c.id,
            "description": c.description,
            "icon": c.icon,
            "button": False,
            "persistent": False,
            "selected": False,
        }
        for c in COMMANDS.values()
    ]


def parse(command: str | None, content: str) -> tuple[str, str] | None:
    """(command, argument) when the message is a command, picked from the list or typed as ``/name ...``."""
    if command:
        return command.lower(), content.strip()
    stripped = content.strip()
    match = _COMMAND.match(stripped)
    if match and "/" not in match.group(1):
        return match.group(1).lower(), (match.group(2) or "").strip()
    return None


async def dispatch(name: str, argument: str) -> None:
    chosen = COMMANDS.get(name)
    if chosen is None:
        await say(f"There is no command `/{name}`. Type `/help` to see the commands.")
        return
    if chosen.needs_argument and not argument:
        await say(f"`/{chosen.id}` needs something after it: `{chosen.usage}`.")
        return
    try:
        await chosen.run(await session.user(), argument)
    except AssistantError as exc:
        await say(f"⚠️ {describe(exc)}")


# -- the buttons the commands show ------------------------------------------------------------
@cl.action_callback("forget_confirm")
async def _forget_confirm(action: cl.Action) -> None:
    owner = await session.user()
    ids = [uuid.UUID(i) for i in action.payload.get("ids", [])]
    await action.remove()
    try:
        report = await state.runtime().memories.forget(owner.id, ids, reason="/forget in the chat")
    except AssistantError as exc:
        await say(f"⚠️ {describe(exc)}")
        return
    await say(f"🗑️ {report.in_words()}")


@cl.action_callback("forget_cancel")
async def _forget_cancel(action: cl.Action) -> None:
    await action.remove()
    await say("Nothing was forgotten.")


@cl.action_callback("undo_memory")
async def _undo(action: cl.Action) -> None:
    owner = await session.user()
    try:
        event = await state.runtime().memories.undo(owner.id, uuid.UUID(str(action.payload.get("event"))))
    except (AssistantError, ValueError) as exc:
        await say(f"⚠️ {describe(exc) if isinstance(exc, AssistantError) else 'that change cannot be undone'}")
        return
    await action.remove()
    await say(f"↩️ Undone: the memory change ({event.action}) was reverted.")
