"""The settings panel: model, answer length, time zone, memory on/off, budget shares."""

from __future__ import annotations

from typing import Any
from zoneinfo import available_timezones

import chainlit as cl
from chainlit.input_widget import Select, Slider, Switch, TextInput

from assistant.web import session, state
from assistant.web.data_layer import TEMPORARY_MARK
from memory.conversations import User

SHARES = (
    ("core", "Budget share: pinned memories", "share_core"),
    ("short_term", "Budget share: this conversation", "share_short_term"),
    ("long_term", "Budget share: long-term memory", "share_long_term"),
    ("documents", "Budget share: documents", "share_documents"),
)


async def show(owner: User) -> None:
    runtime = state.runtime()
    prefs = await session.preferences(owner)
    temporary = await session.is_temporary(owner)
    models = state.offered_models()
    widgets: list[Any] = [
        Select(
            id="model",
            label="Model",
            values=models,
            initial_value=prefs.model if prefs.model in models else models[0],
        ),
        Select(
            id="answer_length",
            label="Answer length",
            values=list(session.ANSWER_LENGTHS),
            initial_value=prefs.answer_length,
        ),
        TextInput(
            id="timezone",
            label="Your time zone (e.g. Europe/Paris)",
            initial=prefs.timezone or "",
            placeholder="UTC",
        ),
        Switch(
            id="thread_memory",
            label="Remember this chat (off: temporary chat)",
            initial=not temporary,
            description="Off: this chat neither recalls nor saves long-term memories, keeps no summary and leaves "
            "the sidebar. Pinned memories still apply.",
        ),
        Switch(
            id="memory",
            label="Long-term memory for all my chats",
            initial=prefs.memory,
            description="Off: nothing is recalled from earlier conversations or facts, and nothing new is saved, "
            "until you turn it on again. Pinned memories are still shown to the model.",
        ),
    ]
    for key, label, setting in SHARES:
        default = float(getattr(runtime.settings, setting))
        widgets.append(
            Slider(id=f"share_{key}", label=label, initial=prefs.shares.get(key, default), min=0, max=1, step=0.05)
        )
    await cl.ChatSettings(widgets).send()


async def apply(owner: User, values: dict[str, Any]) -> None:
    """Store the choices; say what changed and what could not be used."""
    runtime = state.runtime()
    prefs = await session.preferences(owner)
    notes: list[str] = []
    if values.get("model") in state.offered_models():
        prefs.model = str(values["model"])
    if values.get("answer_length") in session.ANSWER_LENGTHS:
        prefs.answer_length = str(values["answer_length"])
    zone = str(values.get("timezone") or "").strip()
    if zone and zone not in available_timezones():
        notes.append(f"“{zone}” is not a time zone I know (try e.g. Europe/Paris); kept {prefs.timezone or 'UTC'}.")
    else:
        prefs.timezone = zone or None
    if "memory" in values:
        prefs.memory = bool(values["memory"])
    shares = {key: float(values[f"share_{key}"]) for key, _, _ in SHARES if f"share_{key}" in values}
    defaults = {key: float(getattr(runtime.settings, setting)) for key, _, setting in SHARES}
    if shares and all(abs(shares.get(k, v) - v) < 1e-9 for k, v in defaults.items()):
        prefs.shares = {}  # the configured shares, even if they change later
    elif shares:
        if sum(shares.values()) <= 0:
            notes.append("The budget shares cannot all be zero; kept the previous ones.")
        else:
            prefs.shares = shares
    await runtime.conversations.set_preferences(owner.id, prefs.as_dict())
    if "thread_memory" in values:
        temporary = not bool(values["thread_memory"])
        cl.user_session.set("temporary", temporary)
        thread = await session.thread(owner)
        await runtime.conversations.update_thread_metadata(owner.id, thread.id, {"temporary": temporary})
    temporary = await session.is_temporary(owner)
    state_line = "off for this chat (temporary chat)" if temporary else "on"
    if not prefs.memory:
        state_line = "off for all your chats: nothing recalled, nothing saved; pinned memories still used"
    summary = f"⚙️ Settings saved. Model `{prefs.model or runtime.settings.model}`, {prefs.answer_length} answers, "
    summary += f"time zone {prefs.timezone or 'UTC'}, long-term memory {state_line}."
    await cl.Message(content="\n".join([summary, *notes])).send()
    if temporary and "thread_memory" in values:
        await cl.Message(content=TEMPORARY_MARK).send()
