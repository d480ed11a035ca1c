"""Documents in the chat: uploads with progress, cited excerpts under replies, the /docs list."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import chainlit as cl
from chainlit.element import Element

from assistant.application.facade import Assistant
from assistant.context.citations import cited_sources, excerpt
from assistant.context.report import ContextReport
from assistant.web import render, session, state
from memory.conversations import User
from memory.errors import AssistantError, describe


def _service() -> Any | None:
    """The assistant's document service, when this build has one."""
    return getattr(state.assistant(), "documents", None)


async def upload(owner: User, files: Sequence[Element], *, asked: bool = False) -> None:
    """Add each file as a document of this thread, with a progress message per file.

    Each file is stored with its embedding job and a worker embeds it. ``asked``: a question came with the
    files, so wait for them to be indexed (the answer should draw on them); otherwise return at once and let
    each message turn "ready" when its document is."""
    service = _service()
    if service is None:
        await cl.Message(content="Documents are not available in this version; the file was not stored.").send()
        return
    thread = await session.thread(owner)
    if not asked:
        # A chat begun with files alone is named by them, as a first message names one.
        try:
            names = ", ".join(f.name for f in files)
            await state.assistant().conversations.rename_thread(owner.id, thread.id, names, only_if_untitled=True)
        except AssistantError:
            pass  # unnamed, the chat is still listed ("Untitled conversation")
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
            # Stored with its embedding job; a worker (in this process by default) embeds the excerpts.
            info = await service.add(owner.id, file.name, data, thread_id=thread.id, progress=report, wait=False)
        except AssistantError as exc:
            await asyncio.gather(*pending, return_exceptions=True)
            progress.content = f"⚠️ {describe(exc)}"
            await progress.update()
            continue
        await asyncio.gather(*pending, return_exceptions=True)
        progress.content = _stored_text(info)
        await progress.update()
        if info.unembedded and asked:
            await _when_indexed(service, info, progress, follow=report, timeout_s=QUESTION_WAIT_S)
            await asyncio.gather(*pending, return_exceptions=True)
        elif info.unembedded:
            task = asyncio.ensure_future(_when_indexed(service, info, progress))
            _watching.add(task)
            task.add_done_callback(_watching.discard)


_watching: set[asyncio.Task[Any]] = set()  # upload messages waiting to say their document is ready
INDEXING_WATCH_S = 600.0
QUESTION_WAIT_S = 120.0  # a question asked with the file waits this long for it, then is answered anyway


def _stored_text(info: Any) -> str:
    pages = f", {info.pages} pages" if info.pages else ""
    excerpts = f"{info.chunk_count} excerpt{'' if info.chunk_count == 1 else 's'}{pages}"
    if info.unembedded:
        return (
            f"📄 **{info.name}** is stored and being indexed: {excerpts}. "
            "Until it is ready, answers find it by its exact words only."
        )
    verb = "was already stored, unchanged" if info.unchanged else "is ready"
    return f"📄 **{info.name}** {verb}: {excerpts}. Ask about it; answers cite it."


async def _when_indexed(
    service: Any,
    info: Any,
    message: cl.Message,
    *,
    follow: Callable[[int, int], None] | None = None,
    timeout_s: float = INDEXING_WATCH_S,
) -> None:
    """Turn the upload message into "ready" once a worker has embedded every excerpt."""
    try:
        done = await service.wait_indexed(info.user_id, info.id, timeout_s=timeout_s, progress=follow)
        if done is None:
            message.content = f"📄 **{info.name}** was removed before it was indexed."
        elif done.status == "failed":
            message.content = (
                f"⚠️ **{info.name}** is stored, but indexing it failed after several tries, so answers find it by "
                "its exact words only. Remove it and attach it again, or ask an administrator to retry the job."
            )
        elif done.unembedded:
            message.content = _stored_text(done) + " (Still indexing: /docs shows when it is ready.)"
        else:
            message.content = _stored_text(done)
        await message.update()
    except AssistantError:
        pass  # the store is unreachable: /docs still shows the document's state


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
        state = f", indexing: {doc.unembedded} left" if doc.unembedded else ""
        if doc.status == "failed":
            state = f", indexing failed with {doc.unembedded} left: found by its words only"
        lines.append(
            f"- **{doc.name}** ({doc.type}, {render.size(doc.size_bytes)}{pages}, "
            f"{render.count(doc.chunk_count, 'excerpt')}{state}) "
            f"— added {render.when(doc.created_at, tz)}, for {scope}"
        )
    await cl.Message(content="\n".join(lines)).send()


SOURCES_AUTHOR = "Sources"


async def sources_text(app: Assistant, user_id: uuid.UUID, report: ContextReport, reply: str) -> str | None:
    """The excerpts the reply cites, each under its number and source (None when it cites none).

    Written into a message rather than as side-panel elements: nothing opens by itself, each title sits on
    its own text, and names keep their case. An excerpt the reply does not cite is not listed.
    """
    service = getattr(app, "documents", None)
    cited = cited_sources(report, reply)
    if service is None or not cited:
        return None
    try:
        chunks = {c.id: c for c in await service.chunks(user_id, [s.chunk_id for s in cited])}
    except AssistantError:
        chunks = {}
    parts = ["📚 **Sources**"]
    for source in cited:
        chunk = chunks.get(source.chunk_id)
        title = chunk.citation if chunk is not None else source.source
        text = chunk.text if chunk is not None else excerpt(source.text)
        parts.append(f"**[{source.number}] {title}**\n> {render.short(text, 400)}")
    return "\n\n".join(parts)


async def show_citations(report: ContextReport, reply: str) -> None:
    """The reply's sources under it (data_layer shows them again when the chat is reopened)."""
    owner = await session.user()
    text = await sources_text(state.assistant(), owner.id, report, reply)
    if text:
        await cl.Message(content=text, author=SOURCES_AUTHOR).send()
