"""/export: everything stored about the user, in the CLI's JSONL format, offered as a download."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime
from typing import Any

import chainlit as cl

from assistant.web import state
from memory.conversations import User


def _portability() -> Any | None:
    runtime = state.runtime()
    found = getattr(runtime, "portability", None)
    if found is not None:
        return found
    try:
        module = importlib.import_module("memory.portability")
    except ImportError:
        return None
    return module.Portability(runtime.pool, runtime.memories.embedder)


async def export(owner: User) -> None:
    service = _portability()
    if service is None:
        await cl.Message(content="Export is not available in this version; nothing was exported.").send()
        return
    text: str = await service.export_jsonl(owner.id)
    lines = text.count("\n")
    name = f"assistant-export-{owner.name}-{datetime.now(UTC):%Y%m%d-%H%M%S}.jsonl"
    download = cl.File(name=name, content=text.encode("utf-8"), mime="application/x-ndjson", display="inline")
    await cl.Message(
        content=f"📦 Everything stored about you: {lines:,} lines (conversations, memories, history, documents). "
        "Same format as the command line's export.",
        elements=[download],
    ).send()
