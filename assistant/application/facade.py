"""``Assistant``: what the faces (browser, CLI, MCP server, benchmarks) ask of the application.

The faces call these methods and the services named below; they never reach into a store, the pool or Redis.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

from assistant.context.budget import TierShares
from assistant.pipeline.turn import TurnEvent, TurnPipeline
from assistant.providers.base import ChatModel
from assistant.runtime import Runtime
from assistant.settings import Settings
from memory.accounts import AccountStore
from memory.conversations import ConversationStore, Thread
from memory.documents.service import DocumentService
from memory.errors import InvalidInputError, NotFoundError
from memory.long_term.overview import MemoryOverview
from memory.long_term.records import MemoryEvent, MemoryKind, MemoryRecord
from memory.long_term.service import MemoryService
from memory.portability import Portability
from memory.short_term.summaries import Summary

ListedKind = Literal["episodic", "semantic", "pinned"]
LISTED_KINDS: tuple[ListedKind, ...] = get_args(ListedKind)
NOTICE_ACTIONS = ("add", "update", "invalidate")  # the memory changes a user is told about after a turn
MIN_EVENT_PREFIX = 4


@dataclass(frozen=True)
class MemoryNotice:
    """A memory change since the user last looked: which event (to undo it), what happened, the memory's text."""

    event_id: uuid.UUID
    action: str
    text: str


@dataclass
class Assistant:
    """One running application: a chat turn, memory queries, notices, export, and the services behind them."""

    runtime: Runtime
    _models: dict[str, ChatModel] = field(default_factory=dict)  # offered models other than the default

    # -- the services the faces use as they are ---------------------------------------------------
    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    @property
    def conversations(self) -> ConversationStore:
        return self.runtime.conversations

    @property
    def memories(self) -> MemoryService:
        return self.runtime.memories

    @property
    def documents(self) -> DocumentService:
        return self.runtime.documents

    @property
    def accounts(self) -> AccountStore:
        return self.runtime.accounts

    @property
    def portability(self) -> Portability:
        return self.runtime.portability

    @property
    def embedder_name(self) -> str:
        """The embedding model memories are stored with."""
        return self.memories.embedder.name

    # -- chat ---------------------------------------------------------------------------------------
    def offered_models(self) -> list[str]:
        """The default model first, then the configured others."""
        return list(dict.fromkeys([self.settings.model, *self.settings.chat_models]))

    async def chat_model(self, name: str | None) -> ChatModel:
        """The default model, or another offered one (started on first use, kept until the assistant closes)."""
        if not name or name == self.settings.model or name not in self.offered_models():
            return self.runtime.model
        if name not in self._models:
            from assistant.providers.factory import build_chat_model

            self._models[name] = await build_chat_model(self.settings.model_copy(update={"model": name}))
        return self._models[name]

    def pipeline(
        self,
        *,
        model: ChatModel | None = None,
        answer_tokens: int | None = None,
        shares: TierShares | None = None,
        system_note: str | None = None,
    ) -> TurnPipeline:
        """The turn pipeline with a chat's choices (``Runtime.turn_pipeline``); the default one without."""
        return self.runtime.turn_pipeline(
            model=model, answer_tokens=answer_tokens, shares=shares, system_note=system_note
        )

    def turn(self, thread: Thread, text: str, *, private: bool = False) -> AsyncIterator[TurnEvent]:
        """One turn with the default choices: the message stored, the context built, the reply streamed."""
        return self.runtime.pipeline.run(thread, text, private=private)

    async def last_report(self, thread: Thread) -> dict[str, Any] | None:
        """What the thread's newest reply was built from."""
        return await self.runtime.reports.last(thread)

    async def report_for(self, user_id: uuid.UUID, message_id: uuid.UUID) -> dict[str, Any] | None:
        return await self.runtime.reports.for_message(user_id, message_id)

    async def reports_of(self, thread: Thread) -> dict[uuid.UUID, dict[str, Any]]:
        """The context report of every reply in the thread, by message id."""
        return await self.runtime.reports.for_thread(thread)

    async def summary(self, thread: Thread) -> Summary | None:
        """The thread's rolling summary, if one was written."""
        return await self.runtime.short_term.summaries.get(thread)

    async def resume(self, thread: Thread) -> None:
        """Rebuild short-term memory from the stored log, so a reopened conversation goes on where it was."""
        await self.runtime.short_term.rebuild(thread)

    # -- memory queries -----------------------------------------------------------------------------
    async def list_memories(
        self,
        user_id: uuid.UUID,
        *,
        kind: ListedKind | None = None,
        include_history: bool = False,
        as_of: datetime | None = None,
        limit: int = 50,
    ) -> list[MemoryRecord]:
        """Memories newest first; ``kind`` "pinned" is not a stored kind but the pinned turns and facts."""
        if kind is not None and kind not in LISTED_KINDS:
            raise InvalidInputError(f"the kind is {', '.join(LISTED_KINDS[:-1])} or {LISTED_KINDS[-1]}, not {kind!r}")
        kinds: tuple[MemoryKind, ...] = ("episodic", "semantic") if kind in (None, "pinned") else (kind,)  # type: ignore[assignment]
        return await self.memories.list_memories(
            user_id,
            kinds=kinds,
            pinned_only=kind == "pinned",
            include_history=include_history,
            as_of=as_of,
            limit=limit,
        )

    async def pinned(self, user_id: uuid.UUID) -> list[MemoryRecord]:
        """What the user asked to be always remembered (in every turn's context)."""
        return await self.memories.pinned(user_id)

    async def memory_overview(self, user_id: uuid.UUID) -> MemoryOverview:
        return await self.memories.overview(user_id)

    def extraction_status(self) -> tuple[bool, str]:
        """Whether facts are drawn from conversations with the default model, and why not when they are not."""
        from assistant.providers.profile import extraction_status

        return extraction_status(self.settings)

    async def memory_counts(self, user_id: uuid.UUID) -> dict[str, int]:
        return await self.memories.store.count(user_id)

    async def edit_memory(
        self, user_id: uuid.UUID, reference: str, text: str, *, reason: str
    ) -> tuple[MemoryRecord, uuid.UUID | None]:
        """A new version of the memory (the old one stays as history), and the event that undoes the change."""
        old = await self.memories.find(user_id, reference)
        new = await self.memories.edit(user_id, old.id, text, reason=reason)
        events = await self.memories.store.events(user_id, memory_id=new.id)
        return new, next((e.id for e in events if e.action == "update"), None)

    async def find_event(self, user_id: uuid.UUID, reference: str) -> uuid.UUID:
        """An audit event of the user by full id or its first characters."""
        try:
            return uuid.UUID(reference.strip())
        except ValueError:
            pass
        prefix = reference.strip().lower()
        if len(prefix) < MIN_EVENT_PREFIX:
            raise InvalidInputError(f"give an event id or at least {MIN_EVENT_PREFIX} of its first characters")
        events = await self.memories.store.events(user_id, limit=10_000)
        matches = [e.id for e in events if str(e.id).startswith(prefix)]
        if len(matches) != 1:
            raise (InvalidInputError if matches else NotFoundError)(
                f"{reference!r} matches several events; give more of the id"
                if matches
                else f"no memory event {reference}"
            )
        return matches[0]

    # -- notices ------------------------------------------------------------------------------------
    async def notices(
        self, user_id: uuid.UUID, since: datetime, *, announced: Callable[[str | None], bool] = lambda _: False
    ) -> list[MemoryNotice]:
        """The memory changes after ``since`` (what the turns in between caused), oldest first: not undone, not
        forgotten since, and not ``announced`` already by the face (judged by the event's reason)."""
        found: list[MemoryNotice] = []
        for event in reversed(await self.memories.store.events(user_id, limit=20)):
            if event.created_at <= since or event.action not in NOTICE_ACTIONS or event.undone_at is not None:
                continue
            if announced(event.reason):
                continue
            text = _event_text(event)
            if text:  # a forgotten memory's events keep no text
                found.append(MemoryNotice(event.id, event.action, text))
        return found

    # -- export and upkeep --------------------------------------------------------------------------
    async def export(self, user_id: uuid.UUID) -> str:
        """Everything stored about the user in the open JSONL format (docs/export-format.md)."""
        return await self.portability.export_jsonl(user_id)

    async def reembed(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Embed every memory again with the configured embedder; how many were."""
        from memory.long_term.reembed import reembed_all

        return await reembed_all(self.runtime.pool, self.memories.embedder, progress=progress)

    async def reembed_later(self) -> None:
        """Record the configured embedder as the model and queue a job that re-embeds everything with it."""
        from assistant.jobs.kinds import REEMBED, job
        from memory.long_term.reembed import queue_reembed

        await queue_reembed(self.runtime.pool, self.memories.embedder, [job(REEMBED)])

    async def clear_fast_state(self) -> int:
        """Delete this deployment's keys in Redis (rebuilt from Postgres on use); how many there were."""
        redis, prefix = self.runtime.redis, self.settings.redis_prefix
        keys = [key async for key in redis.scan_iter(match=f"{prefix}:*", count=500)]
        if keys:
            await redis.delete(*keys)
        return len(keys)

    # -- lifecycle (lifecycle.running opens and closes) ---------------------------------------------
    async def drain(self) -> None:
        """Finish background work, so the next command sees this one's summaries and memories."""
        await self.runtime.drain()

    async def close(self) -> None:
        for model in self._models.values():
            await model.aclose()
        self._models.clear()
        await self.runtime.close()


def _event_text(event: MemoryEvent) -> str:
    return str((event.after or event.before or {}).get("text") or "")
