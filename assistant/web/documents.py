"""Documents in the chat: uploads with progress, cited excerpts under replies, the /docs list."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import chainlit as cl
from chainlit.element import Element

from assistant.context.report import ContextReport
from assistant.web import render, session, state
from memory.conversations import User
from memory.errors import AssistantError, describe


def _service() -> Any | None:
    """The runtime's document service, when this build has one."""
    return getattr(state.runtime(), "documents", None)


async def upload(owner: User, files: Sequence[Element]) -> None:
    """Add each file as a document of this thread, with a progress message per file."""
    service = _service()
    if service is None:
        await cl.Message(content="Documents are not available in this version; the file was not stored.").send()
        return
    thread = await session.thread(owner)
    for file in files:
        progress = cl.Message(content=f"📄 Reading **{file.name}**…")
        await progress.send()
        pending: set[asyncio.Task[Any]] = set()

        def report(
            done: int, total: int, message: cl.Message = progress, name: str = file.name, tasks: set[Any] = pending
        ) -> None:
            message.content = f"📄 Reading **{name}**… {done}/{total} excerpts indexed"
            task = asyncio.ensure_future(message.update())
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        try:
            data = await asyncio.to_thread(Path(str(file.path)).read_bytes) if file.path else (file.content or b"")
            if isinstance(data, str):
                data = data.encode()
            info = await service.add(owner.id, file.name, data, thread_id=thread.id, progress=report)
        except AssistantError as exc:
            await asyncio.gather(*pending, return_exceptions=True)
            progress.content = f"⚠️ {describe(exc)}"
            await progress.update()
            continue
        await asyncio.gather(*pending, return_exceptions=True)
        pages = f", {info.pages} pages" if info.pages else ""
        verb = "was already stored, unchanged" if info.unchanged else "is ready"
        progress.content = (
            f"📄 **{info.name}** {verb}: {info.chunk_count} excerpt{'' if info.chunk_count == 1 else 's'}{pages}. "
            "Ask about it; answers cite it."
        )
        await progress.update()


async def list_documents(owner: User) -> None:
    service = _service()
    if service is None:
        await cl.Message(content="Documents are not available in this version.").send()
        return
    documents = await service.list(owner.id)
    if not documents:
        await cl.Message(content="You have no documents yet. Attach a file to a message to add one.").send()
        return
    tz = (await session.preferences(owner)).timezone
    lines = ["## Your documents"]
    for doc in documents:
        pages = f", {doc.pages} pages" if doc.pages else ""
        scope = "this chat" if doc.thread_id == session.thread_id() else ("a chat" if doc.thread_id else "all chats")
        lines.append(
            f"- **{doc.name}** ({doc.type}, {doc.size_bytes / 1024:.0f} KB{pages}, {doc.chunk_count} excerpts) "
            f"— added {render.when(doc.created_at, tz)}, for {scope}"
        )
    await cl.Message(content="\n".join(lines)).send()


async def show_citations(report: ContextReport) -> None:
    """The document excerpts a reply was given, each as an element named after its source."""
    service = _service()
    items = [i for t in report.tiers if t.name == "documents" for i in t.items if i.kind == "document"]
    if service is None or not items:
        return
    owner = await session.user()
    try:
        chunks = {str(c.id): c for c in await service.chunks(owner.id, [uuid.UUID(i.id) for i in items])}
    except (AssistantError, ValueError):
        chunks = {}
    elements: list[cl.Text] = []
    for number, item in enumerate(items, 1):
        chunk = chunks.get(item.id)
        source = chunk.citation if chunk is not None else item.reason
        text = chunk.text if chunk is not None else item.text
        elements.append(cl.Text(name=f"[{number}] {source}", content=text, display="side"))
    names = ", ".join(e.name for e in elements)
    await cl.Message(content=f"📚 Sources: {names}", elements=list(elements), author="Sources").send()
