"""Semantic memory: facts the model extracts from each exchange, reconciled with what is already known.

Each exchange's job waits in the job queue (assistant/jobs) and a worker runs it, off the reply
path. A job that failed for a reason that may pass (the provider, a store) is retried with
backoff, then left failed (`assistant jobs list --status failed`); one that failed from a bug
fails at once. Each job's idempotency key is the reply it reads: a job queued or run twice
stores its facts once.
The model's answers are validated with pydantic; a model that cannot produce them (the
tiny local default) is not asked.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from typing import Literal

import psycopg
from pydantic import BaseModel, Field, ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError

from assistant.providers.base import ChatMessage, ChatModel
from memory.conversations import ConversationStore
from memory.errors import ProviderError, StoreError
from memory.long_term.extraction_runs import ExtractionRuns
from memory.long_term.service import MemoryService

log = logging.getLogger("assistant.extraction")
SIMILAR = 5
# Failures worth another attempt later: the provider, or a store that is restarting. Anything else is a bug.
TRANSIENT: tuple[type[Exception], ...] = (ProviderError, StoreError, psycopg.OperationalError, RedisConnectionError)


class Fact(BaseModel):
    text: str = Field(min_length=3, max_length=500)
    stated_by: Literal["user", "assistant"]
    importance: float = Field(0.5, ge=0, le=1)


class Extraction(BaseModel):
    facts: list[Fact] = Field(default_factory=list, max_length=20)


class Decision(BaseModel):
    action: Literal["add", "update", "invalidate", "none"]
    target_id: str | None = None
    text: str | None = None
    reason: str = ""


def parse_json(model_type: type[BaseModel], text: str) -> BaseModel:
    """The first JSON object in a model's answer, validated (code fences and chatter around it are ignored)."""
    match = re.search(r"\{.*\}", text, re.S)
    if not match:
        raise ValueError("no JSON object in the answer")
    return model_type.model_validate(json.loads(match.group(0)))


class Extractor:
    def __init__(
        self,
        conversations: ConversationStore,
        memories: MemoryService,
        model: ChatModel,
        *,
        extract_prompt: str,
        reconcile_prompt: str,
    ) -> None:
        self.conversations = conversations
        self.memories = memories
        self.model = model
        self.extract_prompt = extract_prompt
        self.reconcile_prompt = reconcile_prompt
        self.runs = ExtractionRuns(memories.pool)

    async def process(self, job: dict[str, object]) -> list[Decision]:
        """Extract and reconcile one exchange's facts; a job already done (its key recorded) does nothing."""
        user_id = uuid.UUID(str(job["user_id"]))
        ids = [uuid.UUID(str(i)) for i in job["messages"]]  # type: ignore[attr-defined]
        key = uuid.UUID(str(job.get("key") or ids[-1]))
        if await self.runs.done(user_id, key):
            return []
        messages = await self.conversations.messages_by_id(user_id, ids)
        if not messages or any(m.status == "forgotten" for m in messages):
            return []  # gone, or forgotten since the job was queued
        exchange = "\n".join(f"{m.role}: {m.content}" for m in messages)
        answer = await self.model.complete(
            [ChatMessage("system", self.extract_prompt), ChatMessage("user", exchange)], max_tokens=600
        )
        try:
            extraction = parse_json(Extraction, answer.text)
        except (ValueError, ValidationError) as exc:
            raise ProviderError(f"{self.model.name} did not return valid facts: {exc}".splitlines()[0]) from exc
        assert isinstance(extraction, Extraction)
        decisions = []
        for fact in extraction.facts:
            decisions.append(await self._reconcile(user_id, fact, ids))
        # Recorded after the writes: a crash before this re-runs the job, and a repeated "add" then finds its
        # memory already stored (MemoryService.remember) instead of adding a copy.
        await self.runs.record(user_id, key)
        return decisions

    async def _reconcile(self, user_id: uuid.UUID, fact: Fact, sources: list[uuid.UUID]) -> Decision:
        # The nearest facts, matching or not: the model judges whether the new one repeats or contradicts them.
        nearest = await self.memories.search(user_id, fact.text, limit=20, floor=False)
        hits = [h for h in nearest if h.memory.kind == "semantic"]
        similar = hits[:SIMILAR]
        decision = Decision(action="add", text=fact.text, reason="nothing similar is stored")
        if similar:
            listing = "\n".join(f"- id {h.memory.id}: {h.memory.text}" for h in similar)
            answer = await self.model.complete(
                [
                    ChatMessage("system", self.reconcile_prompt),
                    ChatMessage("user", f"New fact: {fact.text}\n\nStored facts:\n{listing}"),
                ],
                max_tokens=300,
            )
            parsed = parse_json(Decision, answer.text)
            assert isinstance(parsed, Decision)
            decision = parsed
        known = {str(h.memory.id): h.memory for h in similar}
        speaker = "user" if fact.stated_by == "user" else "assistant"
        if decision.action == "add":
            await self.memories.remember(
                user_id,
                decision.text or fact.text,
                pinned=False,
                speaker=speaker,
                sources=sources,
                reason=f"extracted: {decision.reason}",
                importance=fact.importance,
                origin="extracted",
            )
        elif decision.action in ("update", "invalidate") and decision.target_id in known:
            target = known[str(decision.target_id)]
            if decision.action == "update":
                await self.memories.edit(
                    user_id, target.id, decision.text or fact.text, reason=f"extracted: {decision.reason}"
                )
            else:
                await self.memories.invalidate(user_id, target.id, reason=f"extracted: {decision.reason}")
        return decision
