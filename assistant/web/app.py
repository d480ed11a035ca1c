"""The Chainlit app: login, thread history over our tables, commands, settings, the turn pipeline.

Run with ``assistant serve`` (which checks the services first) rather than ``chainlit run``.
"""

from __future__ import annotations

import logging
from typing import Any

import chainlit as cl
from chainlit.types import ThreadDict

from assistant.private_files import restrict_umask
from assistant.settings import Settings
from assistant.web import (
    auth,
    commands,
    documents,
    forget_thread,
    memory_manager,
    notices,
    page,
    session,
    settings_panel,
    state,
    turn,
)
from assistant.web.data_layer import AssistantDataLayer
from memory.errors import AssistantError, describe

log = logging.getLogger("assistant.web")

auth.configure(Settings())
forget_thread.mount()
memory_manager.mount()
page.mount()


@cl.data_layer
def _data_layer() -> AssistantDataLayer:
    return AssistantDataLayer(state.assistant)


@cl.on_app_startup
async def _start() -> None:
    restrict_umask()  # uploads and /export files Chainlit writes are owner-only, however the app was launched
    await state.start()


@cl.on_app_shutdown
async def _stop() -> None:
    await state.stop()


async def _open_chat() -> None:
    await cl.context.emitter.set_commands(commands.listing())
    try:
        owner = await session.user()
        await settings_panel.show(owner)
        await page.show_memory_state(owner)
        await notices.memory_notices(owner)
    except AssistantError as exc:
        await cl.Message(content=f"⚠️ {describe(exc)}").send()


@cl.on_chat_start
async def _chat_start() -> None:
    await page.say_if_missing()
    await _open_chat()


@cl.on_chat_resume
async def _chat_resume(thread: ThreadDict) -> None:
    """Short-term memory is rebuilt from the stored log, so the conversation goes on where it was."""
    try:
        owner = await session.user()
        app = state.assistant()
        await app.resume(await app.conversations.get_thread(owner.id, session.thread_id()))
    except AssistantError as exc:
        await cl.Message(content=f"⚠️ {describe(exc)}").send()
    await _open_chat()


@cl.on_settings_update
async def _settings(values: dict[str, Any]) -> None:
    try:
        owner = await session.user()
        await settings_panel.apply(owner, values)
        await page.show_memory_state(owner)
    except AssistantError as exc:
        await cl.Message(content=f"⚠️ {describe(exc)}").send()


@cl.on_stop
async def _on_stop() -> None:
    # Chainlit cancels the running turn; the pipeline keeps the partial reply, marked as such.
    log.info("reply stopped by the user")


@cl.on_message
async def _on_message(message: cl.Message) -> None:
    try:
        owner = await session.user()
        files = [e for e in message.elements if getattr(e, "path", None) or getattr(e, "content", None)]
        parsed = commands.parse(message.command, message.content)
        if files:  # a question asked with the files waits for them to be indexed
            await documents.upload(owner, files, asked=parsed is None and bool(message.content.strip()))
        page.note_input(command=parsed is not None)
        if parsed is not None:
            await commands.dispatch(*parsed)
        elif message.content.strip() or not files:
            await turn.run(owner, message.content)
    except AssistantError as exc:
        await cl.Message(content=f"⚠️ {describe(exc)}").send()
