"""The settings panel: model, answer length, time zone, memory on/off, budget shares."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any
from zoneinfo import available_timezones

import chainlit as cl
from chainlit.input_widget import Select, Slider, Switch, TextInput
from pydantic import Field, TypeAdapter, ValidationError

from assistant.context.tiers import configured_share, registered
from assistant.settings import Settings
from assistant.web import session, state
from assistant.web.data_layer import TEMPORARY_MARK
from memory.conversations import User

SHARE_RULE: Any = Annotated[float, Field(ge=0, le=1)]  # a tier's share without a setting of its own


def share_sliders() -> list[tuple[str, str, str]]:
    """A slider for each registered tier: its name, label and setting (``share_<name>``)."""
    return [(kind.name, f"Budget share: {kind.title}", f"share_{kind.name}") for kind in registered()]


async def show(owner: User) -> None:
    runtime = state.assistant()
    prefs = await session.preferences(owner)
    temporary = await session.is_temporary(owner)
    models = runtime.offered_models()
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
    for kind in registered():
        key, label = kind.name, f"Budget share: {kind.title}"
        default = configured_share(runtime.settings, kind)
        widgets.append(
            Slider(id=f"share_{key}", label=label, initial=prefs.shares.get(key, default), min=0, max=1, step=0.05)
        )
    await cl.ChatSettings(widgets).send()


@cache
def _rule(setting: str) -> TypeAdapter[Any]:
    """The pydantic rule of one setting (its type and bounds), so the panel accepts exactly what the settings do."""
    field = Settings.model_fields.get(setting)
    rule: Any = SHARE_RULE if field is None else Annotated[field.annotation, *field.metadata]
    return TypeAdapter(rule)


def checked(values: dict[str, Any]) -> tuple[dict[str, float], dict[str, bool], list[str]]:
    """The panel's shares and switches as the settings' rules read them, and a sentence for each one they refuse."""
    shares: dict[str, float] = {}
    problems: list[str] = []
    for key, label, setting in share_sliders():
        if f"share_{key}" not in values:
            continue
        raw = values[f"share_{key}"]
        try:
            shares[key] = float(_rule(setting).validate_python(raw))
        except ValidationError:
            problems.append(f"{label}: “{str(raw)[:40]}” is not a number from 0 to 1.")
    switches: dict[str, bool] = {}
    for key in ("memory", "thread_memory"):
        if key in values:
            try:
                switches[key] = TypeAdapter(bool).validate_python(values[key])
            except ValidationError:
                problems.append(f"“{str(values[key])[:40]}” is not on or off.")
    if shares and not problems and sum(shares.values()) <= 0:
        problems.append("The budget shares cannot all be zero.")
    return shares, switches, problems


async def apply(owner: User, values: dict[str, Any]) -> None:
    """Store the choices; say what changed and what could not be used. A share or switch the settings' rules
    refuse changes nothing at all."""
    runtime = state.assistant()
    shares, switches, problems = checked(values)
    if problems:
        await cl.Message(content="\n".join(["⚠️ Settings not saved; nothing was changed.", *problems])).send()
        return
    prefs = await session.preferences(owner)
    notes: list[str] = []
    if values.get("model") in runtime.offered_models():
        prefs.model = str(values["model"])
    if values.get("answer_length") in session.ANSWER_LENGTHS:
        prefs.answer_length = str(values["answer_length"])
    zone = str(values.get("timezone") or "").strip()
    if zone and zone not in available_timezones():
        notes.append(f"“{zone}” is not a time zone I know (try e.g. Europe/Paris); kept {prefs.timezone or 'UTC'}.")
    else:
        prefs.timezone = zone or None
    if "memory" in switches:
        prefs.memory = switches["memory"]
    defaults = {kind.name: configured_share(runtime.settings, kind) for kind in registered()}
    if shares and all(abs(shares.get(k, v) - v) < 1e-9 for k, v in defaults.items()):
        prefs.shares = {}  # the configured shares, even if they change later
    elif shares:
        prefs.shares = shares
    await runtime.conversations.set_preferences(owner.id, prefs.as_dict())
    if "thread_memory" in switches:
        temporary = not switches["thread_memory"]
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
    if temporary and "thread_memory" in switches:
        await cl.Message(content=TEMPORARY_MARK).send()
