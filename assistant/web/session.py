"""Who and where, for one browser session: the user, the thread, their preferences."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import chainlit as cl

from assistant.web import state
from assistant.web.auth import LOCAL_USER
from memory.conversations import Thread, User
from memory.errors import NotFoundError

ANSWER_LENGTHS = {"short": 200, "normal": None, "long": 1500}
LENGTH_NOTES = {
    "short": "Keep answers short: a few sentences at most.",
    "long": "Answer in detail when the question calls for it.",
}


@dataclass
class Preferences:
    """What a user chose in the settings panel (kept in Postgres, in the user's metadata)."""

    model: str | None = None
    answer_length: str = "normal"
    timezone: str | None = None
    memory: bool = True
    shares: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, data: dict[str, Any]) -> Preferences:
        known = {k: data[k] for k in ("model", "answer_length", "timezone", "memory", "shares") if k in data}
        if "shares" in known:  # stored before the panel checked them: a share out of 0..1 is dropped
            shares = known["shares"] if isinstance(known["shares"], dict) else {}
            known["shares"] = {k: float(v) for k, v in shares.items() if isinstance(v, int | float) and 0 <= v <= 1}
        return cls(**known)

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "answer_length": self.answer_length,
            "timezone": self.timezone,
            "memory": self.memory,
            "shares": self.shares,
        }


async def user() -> User:
    """The signed-in user as stored (the local user without a login)."""
    signed_in = cl.user_session.get("user")
    name = getattr(signed_in, "identifier", None) or LOCAL_USER
    conversations = state.assistant().conversations
    if state.assistant().settings.auth == "password":
        try:  # never re-created here: a removed account's open tab stops working
            return await conversations.get_user(name)
        except NotFoundError as exc:
            raise NotFoundError("this account no longer exists", hint="reload the page to sign in") from exc
    return await conversations.ensure_user(name)


def thread_id() -> uuid.UUID:
    return uuid.UUID(cl.context.session.thread_id)


async def thread(owner: User | None = None) -> Thread:
    """This chat's thread, created on first use with the id the browser chose."""
    owner = owner or await user()
    return await state.assistant().conversations.ensure_thread(owner.id, thread_id())


async def existing_thread(owner: User) -> Thread | None:
    try:
        return await state.assistant().conversations.get_thread(owner.id, thread_id())
    except NotFoundError:
        return None


async def preferences(owner: User) -> Preferences:
    return Preferences.of(await state.assistant().conversations.preferences(owner.id))


async def is_temporary(owner: User) -> bool:
    """A temporary chat writes nothing to long-term memory (set in the settings panel)."""
    if cl.user_session.get("temporary") is not None:
        return bool(cl.user_session.get("temporary"))
    metadata = await state.assistant().conversations.thread_metadata(owner.id, thread_id())
    return bool(metadata.get("temporary"))
