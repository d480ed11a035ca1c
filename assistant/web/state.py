"""The web app's open assistant, shared by the app, its data layer and its commands.

Chainlit's lifespan opens it (the app start-up hook) and closes it (the shutdown hook); it is kept on the state of
Chainlit's FastAPI app, next to the exit stack that closes it, rather than in module globals.
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

from memory.errors import AssistantError, describe

if TYPE_CHECKING:
    from starlette.datastructures import State

    from assistant.application.facade import Assistant

log = logging.getLogger("assistant.web")


def _app_state() -> State:
    from chainlit.server import app

    return app.state


async def start() -> None:
    """Open the assistant with its background work (fact extraction, episodic backfill); a failure is kept and
    shown in the chat instead of a dead server."""
    from assistant.application.lifecycle import running
    from assistant.heap import settle_heap
    from assistant.settings import Settings

    app_state = _app_state()
    stack = AsyncExitStack()
    app_state.assistant_exit = stack
    try:
        app_state.assistant = await stack.enter_async_context(running(Settings(), background="workers"))
        settle_heap()
    except Exception as exc:
        log.error("the assistant could not start: %s", describe(exc))
        app_state.assistant = exc


async def stop() -> None:
    """Drain the background work and close everything (and the extra chat models opened on the way)."""
    app_state = _app_state()
    stack: AsyncExitStack | None = getattr(app_state, "assistant_exit", None)
    app_state.assistant = None
    app_state.assistant_exit = None
    if stack is not None:
        await stack.aclose()


def assistant() -> Assistant:
    from assistant.application.facade import Assistant

    current = getattr(_app_state(), "assistant", None)
    if isinstance(current, Assistant):
        return current
    raise AssistantError(f"the assistant could not start: {describe(current) if current else 'still starting'}")
