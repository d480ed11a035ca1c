"""The Chainlit app: each browser message goes through the turn pipeline and streams back.

Run with ``assistant serve`` (which checks the services first) rather than ``chainlit run``.
"""

from __future__ import annotations

import logging

import chainlit as cl

from assistant.pipeline.turn import Notice, ReplyDelta, TurnFinished
from assistant.runtime import Runtime
from assistant.settings import Settings
from memory.conversations import Thread
from memory.errors import AssistantError, describe

LOCAL_USER = "local"

log = logging.getLogger("assistant.web")
_state: dict[str, Runtime | BaseException] = {}


@cl.on_app_startup
async def _start() -> None:
    try:
        runtime = await Runtime.start(Settings())
        runtime.start_workers()
        _state["runtime"] = runtime
    except Exception as exc:  # shown in the chat instead of a dead server
        log.error("the assistant could not start: %s", describe(exc))
        _state["runtime"] = exc


@cl.on_app_shutdown
async def _stop() -> None:
    runtime = _state.pop("runtime", None)
    if isinstance(runtime, Runtime):
        await runtime.close()


def _runtime() -> Runtime:
    runtime = _state.get("runtime")
    if isinstance(runtime, Runtime):
        return runtime
    raise AssistantError(f"the assistant could not start: {describe(runtime) if runtime else 'still starting'}")


async def _thread(runtime: Runtime) -> Thread:
    thread = cl.user_session.get("thread")
    if isinstance(thread, Thread):
        return thread
    user = await runtime.conversations.ensure_user(LOCAL_USER)
    thread = await runtime.conversations.create_thread(user.id)
    cl.user_session.set("thread", thread)
    return thread


@cl.on_message
async def _on_message(message: cl.Message) -> None:
    reply = cl.Message(content="")
    try:
        runtime = _runtime()
        thread = await _thread(runtime)
        async for event in runtime.pipeline.run(thread, message.content):
            if isinstance(event, Notice):
                await cl.Message(content=f"ℹ️ {event.text}", author="assistant").send()
            elif isinstance(event, ReplyDelta):
                await reply.stream_token(event.text)
            elif isinstance(event, TurnFinished):
                reply.content = event.reply.content
                await reply.send()
    except AssistantError as exc:
        await cl.Message(content=f"⚠️ {describe(exc)}", author="assistant").send()
