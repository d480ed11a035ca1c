"""The project's own memory as the LoCoMo benchmark's memory under test.

Turns go in through the chat's write path (the message log, then the memory
writer); questions are answered by the context manager's long-term tier.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from assistant.bench.locomo.dataset import Conversation
from assistant.bench.locomo.runner import ContextItem
from assistant.jobs import kinds
from assistant.runtime import Runtime
from memory.conversations import Message

TOKENIZER_MODEL = "gpt-4o-mini"


def turn_text(text: str, caption: str | None) -> str:
    return f"{text} [shares a photo: {caption}]" if caption else text


class ProjectMemory:
    """``extract``: also queue each pair of consecutive turns for fact extraction, as the chat queues an exchange
    (the runtime must have been started with a model that extracts; ``runtime.drain`` runs the jobs)."""

    def __init__(self, runtime: Runtime, *, extract: bool = False) -> None:
        self.runtime = runtime
        self.extract = extract
        self._users: dict[str, uuid.UUID] = {}
        self._last: dict[str, datetime] = {}
        self._dia: dict[uuid.UUID, str] = {}
        self.turns_ingested = 0

    async def ingest(self, conversation: Conversation) -> None:
        store = self.runtime.conversations
        user = await store.ensure_user(f"locomo-{conversation.sample_id}-{uuid.uuid4().hex[:8]}")
        self._users[conversation.sample_id] = user.id
        writer = self.runtime.pipeline.writer
        clock = datetime(2000, 1, 1, tzinfo=UTC)
        for session in conversation.sessions:
            when = session.date
            # An unreadable date keeps the session order: a day after the previous session.
            start = when.replace(tzinfo=when.tzinfo or UTC) if when else clock + timedelta(days=1)
            clock = max(start, clock)
            thread = await store.create_thread(user.id, title=f"session {session.index} ({session.date_text})")
            previous: Message | None = None
            for offset, turn in enumerate(session.turns):
                jobs = [kinds.job(kinds.EMBED_TURN)]
                if self.extract and previous is not None:
                    jobs.append(kinds.job(kinds.EXTRACT_FACTS, messages=[str(previous.id)]))
                message = await store.append_message(
                    thread,
                    "user",
                    turn_text(turn.text, turn.caption),
                    speaker=turn.speaker,
                    external_id=turn.dia_id,
                    created_at=clock + timedelta(seconds=offset),
                    jobs=jobs,
                )
                self._dia[message.id] = turn.dia_id
                await writer.message_stored(thread, message)
                previous = message
                self.turns_ingested += 1
            clock += timedelta(seconds=len(session.turns))  # a session dated earlier still comes after this one
        self._last[conversation.sample_id] = clock
        await self.runtime.drain()
        # What autovacuum would do soon after, done now so that every run reads the same word statistics
        # (how common a word is decides what the relevance floor lets in).
        async with self.runtime.pool.connection() as conn:
            await conn.execute("ANALYZE memories")
        self.runtime.memories.searcher.term_stats.invalidate()

    async def context(
        self, conversation: Conversation, question: str, *, budget: int, now: datetime | None
    ) -> list[ContextItem]:
        user_id = self._users[conversation.sample_id]
        # "Now" is the conversation's last date; without a readable one, where the session order put it.
        # (a last session with an unreadable date was placed after the readable ones: "now" is then its place).
        last = self._last[conversation.sample_id]
        moment = max(now.replace(tzinfo=now.tzinfo or UTC), last) if now else last
        items = await self.runtime.context.long_term_context(
            user_id, question, model=TOKENIZER_MODEL, budget=budget, now=moment
        )
        return [
            ContextItem(item.kind, item.text, tuple(self._dia[m] for m in item.message_ids if m in self._dia))
            for item in items
        ]

    async def cleanup(self, conversation: Conversation) -> None:
        user_id = self._users.pop(conversation.sample_id, None)
        if user_id is not None:
            await self.runtime.short_term.forget_user(user_id)
            await self.runtime.conversations.delete_user(user_id)
