"""/export: everything stored about the user, in the CLI's JSONL format, offered as a download."""

from __future__ import annotations

from datetime import UTC, datetime

import chainlit as cl

from assistant.web import state
from memory.conversations import User


async def export(owner: User) -> None:
    text = await state.assistant().export(owner.id)
    lines = text.count("\n")
    name = f"assistant-export-{owner.name}-{datetime.now(UTC):%Y%m%d-%H%M%S}.jsonl"
    download = cl.File(name=name, content=text.encode("utf-8"), mime="application/x-ndjson", display="inline")
    await cl.Message(
        content=f"📦 Everything stored about you: {lines:,} lines (conversations, memories, history, documents). "
        "Same format as the command line's export.",
        elements=[download],
    ).send()
