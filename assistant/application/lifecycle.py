"""The one lifecycle of every face: open the stores, start the background work, run, drain and close.

async with running(settings, chat=False) as assistant:  # a one-shot CLI command
    ...
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

from assistant.application.facade import Assistant
from assistant.providers.base import ChatModel
from assistant.runtime import Runtime
from assistant.settings import Settings

# What runs in the background while the face is open: nothing (one-shot commands drain at the end), a queued
# backfill of episodic memory for stored turns a crash or a fault left without it (long-running faces), or
# that plus a worker running the job queue in this process unless ASSISTANT_WORKERS=external (the web app).
Background = Literal["none", "backfill", "workers"]


@asynccontextmanager
async def running(
    settings: Settings,
    *,
    chat: bool = True,
    check_embedder: bool = True,
    background: Background = "none",
    model: ChatModel | None = None,
) -> AsyncIterator[Assistant]:
    """An open assistant: servers started, schema migrated, stores opened, background work started; on the way
    out the background work is drained and everything closed. ``chat=False``: no chat model is started."""
    runtime = await Runtime.start(settings, model=model, chat=chat, check_embedder=check_embedder)
    assistant = Assistant(runtime)
    try:
        if background == "workers":
            runtime.start_workers()
        elif background == "backfill":
            runtime.backfill_memories()
        yield assistant
    finally:
        await assistant.close()
