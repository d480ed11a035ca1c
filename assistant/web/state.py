"""The process's runtime, shared by the app, its data layer and its commands."""

from __future__ import annotations

import logging

from assistant.heap import settle_heap
from assistant.providers.base import ChatModel
from assistant.providers.factory import build_chat_model
from assistant.runtime import Runtime
from assistant.settings import Settings
from memory.errors import AssistantError, describe

log = logging.getLogger("assistant.web")
_state: dict[str, Runtime | BaseException] = {}
_models: dict[str, ChatModel] = {}


async def start() -> None:
    try:
        runtime = await Runtime.start(Settings())
        runtime.start_workers()
        settle_heap()
        _state["runtime"] = runtime
    except Exception as exc:  # shown in the chat instead of a dead server
        log.error("the assistant could not start: %s", describe(exc))
        _state["runtime"] = exc


async def stop() -> None:
    runtime = _state.pop("runtime", None)
    for model in _models.values():
        await model.aclose()
    _models.clear()
    if isinstance(runtime, Runtime):
        await runtime.close()


def runtime() -> Runtime:
    current = _state.get("runtime")
    if isinstance(current, Runtime):
        return current
    raise AssistantError(f"the assistant could not start: {describe(current) if current else 'still starting'}")


def offered_models() -> list[str]:
    """The default model first, then the configured others."""
    settings = runtime().settings
    return list(dict.fromkeys([settings.model, *settings.chat_models]))


async def chat_model(name: str | None) -> ChatModel:
    """The runtime's model, or another offered one (started once, kept for the process)."""
    current = runtime()
    if not name or name == current.settings.model or name not in offered_models():
        return current.model
    if name not in _models:
        _models[name] = await build_chat_model(current.settings.model_copy(update={"model": name}))
    return _models[name]
