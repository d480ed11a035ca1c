"""What the page shows around the chat: a thread address that is not yours, one notice per stop, and the
memory state (temporary chat, memory off) while it holds.

Chainlit refuses the socket of a thread that belongs to someone else ("Could not reach the server", and
the settings button is gone) and answers an unknown one with "Couldn't resume chat". Both become a new
chat whose first message says, in plain words, that the conversation is not there.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import chainlit as cl

from assistant.web import session, state
from memory.conversations import Thread, User

log = logging.getLogger("assistant.web.page")

NOT_YOURS = (
    "**This conversation does not exist or is not yours.** It may have been deleted, or the address is "
    "mistyped. [Start a new chat](/) or pick one from the sidebar."
)
STATE_EVENT = "assistant-memory-state"  # what public/assistant.js listens for (window message)
_missing: set[str] = set()  # browser session ids whose address named a thread they cannot open
_FIRST_WAS_COMMAND = "first_input_was_command"  # user-session key: the chat still needs a name


async def _known(thread_id: str) -> bool:
    try:
        return await state.assistant().conversations.thread_owner(uuid.UUID(str(thread_id))) is not None
    except (ValueError, TypeError):
        return False


def _wrap_connect(original: Any) -> Any:
    async def connect(sid: str, environ: Any, auth: dict[str, Any]) -> Any:
        thread_id = auth.get("threadId") if isinstance(auth, dict) else None
        if not thread_id:
            return await original(sid, environ, auth)
        if await _known(str(thread_id)):
            try:
                return await original(sid, environ, auth)
            except ConnectionRefusedError as exc:
                if "authorization" not in str(exc):
                    raise
                log.info("a thread address of another user was opened; a new chat is started instead")
        # A new chat (its own fresh thread id) that still tries to resume the address, so that the page,
        # told the thread is not there, goes home; on_chat_start then says so in the chat.
        accepted = await original(sid, environ, {**auth, "threadId": None})
        from chainlit.session import WebsocketSession

        if chat := WebsocketSession.get(sid):
            chat.thread_id_to_resume = str(thread_id)
            _missing.add(str(chat.id))
        return accepted

    connect.wrapped = original  # type: ignore[attr-defined]
    return connect


def _stop_handler() -> Any:
    from chainlit.config import config
    from chainlit.context import init_ws_context
    from chainlit.session import WebsocketSession

    async def stop(sid: str) -> None:
        """Chainlit's stop without its "Task manually stopped." message: the turn writes the one notice."""
        if chat := WebsocketSession.get(sid):
            init_ws_context(chat)
            if chat.current_task:
                chat.current_task.cancel()
            if config.code.on_stop:
                await config.code.on_stop()

    return stop


def mount() -> None:
    """Replace two of Chainlit's socket handlers (once per process)."""
    import chainlit.socket  # noqa: F401  (registers Chainlit's handlers, which are wrapped here)
    from chainlit.server import sio

    handlers = sio.handlers.setdefault("/", {})
    if "connect" in handlers and not hasattr(handlers["connect"], "wrapped"):
        handlers["connect"] = _wrap_connect(handlers["connect"])
    handlers["stop"] = _stop_handler()


async def say_if_missing() -> bool:
    """On a new chat: if its address named a thread this user cannot open, say so (once)."""
    key = str(cl.context.session.id)
    if key not in _missing:
        return False
    _missing.discard(key)
    await cl.Message(content=NOT_YOURS).send()
    return True


async def show_memory_state(owner: User) -> None:
    """Tell the page which memory state holds for this chat; public/assistant.js shows it as a badge."""
    prefs = await session.preferences(owner)
    temporary = await session.is_temporary(owner)
    await cl.send_window_message({"type": STATE_EVENT, "temporary": temporary, "memoryOff": not prefs.memory})


def note_input(*, command: bool) -> None:
    """Remember whether a chat's first input was a command (Chainlit names a chat after its first input;
    the data layer ignores a command as a name)."""
    if cl.user_session.get(_FIRST_WAS_COMMAND) is None:
        cl.user_session.set(_FIRST_WAS_COMMAND, command)


async def name_after_command(owner: User, thread: Thread, text: str) -> None:
    """A chat opened with a command is named by its first real message, and listed again under that name."""
    if not cl.user_session.get(_FIRST_WAS_COMMAND):
        return
    cl.user_session.set(_FIRST_WAS_COMMAND, False)
    if thread.title is None:
        await state.assistant().conversations.rename_thread(owner.id, thread.id, text, only_if_untitled=True)
        # What Chainlit sends after a chat's first message: the page lists the chat again, with its name.
        await cl.context.emitter.emit("first_interaction", {"interaction": "message", "thread_id": str(thread.id)})
