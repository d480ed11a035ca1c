"""Chainlit's thread history over our own tables: one store of every message.

The turn pipeline already writes every user message and reply to ``messages``;
this layer only reads them back for the sidebar and for resuming, and renames
or deletes threads through the conversation store. Chainlit's own step and
element writes (the UI's copy of each message) are deliberately dropped, so
forgetting and export never miss a second copy.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

from chainlit.data.base import BaseDataLayer
from chainlit.element import Element, ElementDict
from chainlit.step import StepDict
from chainlit.types import Feedback, PageInfo, PaginatedResponse, Pagination, ThreadDict, ThreadFilter
from chainlit.user import PersistedUser, User

from assistant.application.facade import Assistant
from assistant.context.report import ContextReport
from assistant.reply_notes import cap_note, partial_note
from assistant.web import render
from memory.conversations import Message, Thread
from memory.conversations import User as StoredUser
from memory.errors import AssistantError, NotFoundError

log = logging.getLogger("assistant.web.data")

ASSISTANT_NAME = "Assistant"
PARTIAL_MARK = "\n\n*⏹ Stopped: this reply is incomplete.*"  # shown live; a stored reply says why (reply_notes)
PRIVATE_MARK = "\n\n*🔒 Private: kept in this chat only, never remembered or recalled.*"
TEMPORARY_REPLY_MARK = "\n\n*🕶️ Temporary chat: nothing here is recalled or remembered.*"
TEMPORARY_MARK = (
    "🕶️ **Temporary chat**: nothing in it is recalled from or saved to long-term memory, and it is not listed "
    "in the sidebar (its address, or `assistant threads list`, finds it). Pinned memories still apply. "
    "Turn *Remember this chat* back on in the settings (the gear icon) to make it an ordinary chat."
)
STOPPED_EARLY = "*⏹ Stopped before the reply began.*"
RECEIPT_NAME = "memory"  # Chainlit titles a finished step "Used <name>": the receipt reads "Used memory"
RECEIPT_TYPE: Final = "retrieval"
CHAINLIT_KEY = "chainlit"  # where Chainlit's session metadata lives inside threads.metadata


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError):
        return None


def persisted(user: StoredUser) -> PersistedUser:
    return PersistedUser(
        id=str(user.id),
        identifier=user.name,
        display_name=user.display_name,
        createdAt=iso(user.created_at),
        metadata={},
    )


def cap_mark(message: Message) -> str:
    """The visible mark of a reply that reached the answer length limit ("" for any other)."""
    note = cap_note(message)
    return f"\n\n*{note}*" if note else ""


def reply_marks(message: Message, *, temporary: bool = False) -> str:
    """The visible marks after a message: stopped, cut off at the length limit, private, or a reply in a
    temporary chat."""
    partial = partial_note(message)
    marks = (f"\n\n*{partial}*" if partial else "") + cap_mark(message)
    marks += PRIVATE_MARK if message.private else ""
    return marks + (TEMPORARY_REPLY_MARK if temporary and message.role == "assistant" else "")


def message_step(message: Message, author: str, *, temporary: bool = False) -> StepDict:
    """One stored message as Chainlit shows it, with its marks (stopped, cut off, private, temporary chat)."""
    output = message.content + reply_marks(message, temporary=temporary)
    when = iso(message.created_at)
    return {
        "id": str(message.id),
        "threadId": str(message.thread_id),
        "parentId": None,
        "name": author if message.role == "user" else ASSISTANT_NAME,
        "type": "user_message" if message.role == "user" else "assistant_message",
        "input": "",
        "output": output,
        "createdAt": when,
        "start": when,
        "end": when,
        "streaming": False,
        "isError": message.status == "error",
        "metadata": {"status": message.status, "private": message.private, "temporary": temporary},
        "showInput": False,
    }


def receipt_step(message: Message, report: dict[str, Any]) -> StepDict:
    """The Used memory receipt of a stored reply, rebuilt from its stored context report, placed under it."""
    when = iso(message.created_at)
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"receipt:{message.id}")),
        "threadId": str(message.thread_id),
        "parentId": None,
        "name": RECEIPT_NAME,
        "type": RECEIPT_TYPE,
        "input": "",
        "output": render.recalled(ContextReport.model_validate(report)),
        "createdAt": when,
        "start": when,
        "end": when,
        "streaming": False,
        "isError": False,
        "metadata": {},
        "defaultOpen": False,
        "showInput": False,
    }


class AssistantDataLayer(BaseDataLayer):
    """Reads and changes threads through the assistant's conversation store."""

    def __init__(self, assistant: Callable[[], Assistant]) -> None:
        self._assistant = assistant

    @property
    def app(self) -> Assistant:
        return self._assistant()

    # -- users -----------------------------------------------------------------------------
    async def get_user(self, identifier: str) -> PersistedUser | None:
        try:
            return persisted(await self.app.conversations.get_user(identifier))
        except NotFoundError:
            return None

    async def create_user(self, user: User) -> PersistedUser | None:
        """Local mode makes its one user on first visit; password accounts are made only by `assistant users
        add`, so a token of a removed user never brings the account back (without a password)."""
        if self.app.settings.auth == "password":
            return await self.get_user(user.identifier)
        stored = await self.app.conversations.ensure_user(user.identifier, display_name=user.display_name)
        return persisted(stored)

    # -- threads ---------------------------------------------------------------------------
    async def get_thread_author(self, thread_id: str) -> str:
        key = _uuid(thread_id)
        owner = await self.app.conversations.thread_owner(key) if key else None
        return owner.name if owner else ""

    async def _owned(self, thread_id: str) -> tuple[Thread, StoredUser] | None:
        key = _uuid(thread_id)
        if key is None:
            return None
        conversations = self.app.conversations
        owner = await conversations.thread_owner(key)
        if owner is None:
            return None
        return await conversations.get_thread(owner.id, key), owner

    def _thread_dict(self, thread: Thread, owner: StoredUser, metadata: dict[str, Any]) -> ThreadDict:
        return {
            "id": str(thread.id),
            "createdAt": iso(thread.updated_at),
            "name": thread.title or thread.name or "Untitled conversation",
            "userId": str(owner.id),
            "userIdentifier": owner.name,
            "tags": [],
            "metadata": metadata,
            "steps": [],
            "elements": [],
        }

    async def get_thread(self, thread_id: str) -> ThreadDict | None:
        found = await self._owned(thread_id)
        if found is None:
            return None
        thread, owner = found
        conversations = self.app.conversations
        metadata = await conversations.thread_metadata(owner.id, thread.id)
        chainlit_metadata = dict(metadata.get(CHAINLIT_KEY) or {})
        result = self._thread_dict(thread, owner, chainlit_metadata)
        temporary = bool(metadata.get("temporary"))
        reports = await self.app.reports_of(thread)
        steps: list[StepDict] = []
        for m in await conversations.messages(thread):
            if m.role == "system":
                continue
            steps.append(message_step(m, owner.name, temporary=temporary))
            if m.id in reports:
                steps += await self._under_reply(owner, m, reports[m.id])
        result["steps"] = steps
        return result

    async def _under_reply(self, owner: StoredUser, reply: Message, report: dict[str, Any]) -> list[StepDict]:
        """What sat under a reply when it was written: its receipt, then the sources it cites."""
        from assistant.web.documents import SOURCES_AUTHOR, sources_text

        shown = [receipt_step(reply, report)]
        text = await sources_text(self.app, owner.id, ContextReport.model_validate(report), reply.content)
        if text:
            step = message_step(reply, ASSISTANT_NAME)
            step["id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"sources:{reply.id}"))
            step["name"] = SOURCES_AUTHOR
            step["output"] = text
            step["metadata"] = {}
            shown.append(step)
        return shown

    async def list_threads(self, pagination: Pagination, filters: ThreadFilter) -> PaginatedResponse[ThreadDict]:
        user_id = _uuid(filters.userId)
        if user_id is None:
            return PaginatedResponse(PageInfo(False, None, None), [])
        conversations = self.app.conversations
        owner = await conversations.user_by_id(user_id)
        threads = await conversations.page_threads(
            user_id,
            limit=pagination.first + 1,
            before=_uuid(pagination.cursor),
            search=filters.search,
            temporary=False,  # temporary chats are not listed with ordinary ones
        )
        more = len(threads) > pagination.first
        threads = threads[: pagination.first]
        data = [self._thread_dict(t, owner, {}) for t in threads]
        return PaginatedResponse(
            PageInfo(more, data[0]["id"] if data else None, data[-1]["id"] if data else None), data
        )

    async def update_thread(
        self,
        thread_id: str,
        name: str | None = None,
        user_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        tags: list[str] | None = None,
    ) -> None:
        """Chainlit calls this on the first message (name = that message), on rename and on disconnect."""
        key = _uuid(thread_id)
        if key is None:
            return
        conversations = self.app.conversations
        owner_id = _uuid(user_id)
        try:
            if owner_id is not None:
                await conversations.ensure_thread(owner_id, key)
            else:
                owner = await conversations.thread_owner(key)
                if owner is None:
                    return
                owner_id = owner.id
            if name and name.strip() and not (user_id is not None and name.lstrip().startswith("/")):
                # The first message names a new thread (a command does not: turn.run names it by the first
                # real message); a rename (no user id given) always wins.
                await conversations.rename_thread(owner_id, key, name, only_if_untitled=user_id is not None)
            if metadata is not None:
                await conversations.update_thread_metadata(owner_id, key, {CHAINLIT_KEY: metadata})
        except AssistantError as exc:
            log.warning("thread %s not updated: %s", thread_id, exc)

    async def delete_thread(self, thread_id: str) -> None:
        found = await self._owned(thread_id)
        if found is None:
            return
        thread, owner = found
        app = self.app
        metadata = await app.conversations.thread_metadata(owner.id, thread.id)
        forget = bool(metadata.get("forget_on_delete"))
        await app.memories.delete_thread(owner.id, thread.id, forget_memories=forget)

    # -- what Chainlit would store a second copy of: nothing --------------------------------
    async def create_step(self, step_dict: StepDict) -> None:
        return None

    async def update_step(self, step_dict: StepDict) -> None:
        return None

    async def delete_step(self, step_id: str) -> None:
        return None

    async def create_element(self, element: Element) -> None:
        return None

    async def get_element(self, thread_id: str, element_id: str) -> ElementDict | None:
        return None

    async def delete_element(self, element_id: str, thread_id: str | None = None) -> None:
        return None

    async def upsert_feedback(self, feedback: Feedback) -> str:
        return feedback.id or str(uuid.uuid4())

    async def delete_feedback(self, feedback_id: str) -> bool:
        return True

    async def get_favorite_steps(self, user_id: str) -> list[StepDict]:
        return []

    async def build_debug_url(self) -> str:
        return ""

    async def close(self) -> None:
        return None
