"""The rolling summary: the model folds turns that left the short-term window into it, off the reply path."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from assistant.providers.base import ChatMessage, ChatModel
from assistant.providers.tokens import TokenCounter
from memory.conversations import ConversationStore, Thread
from memory.short_term.summaries import Summary
from memory.short_term.window import ShortTermMemory, Turn

log = logging.getLogger("assistant.summarizer")


class Summarizer:
    def __init__(
        self,
        conversations: ConversationStore,
        short_term: ShortTermMemory,
        model: ChatModel,
        *,
        instructions: str,
        window: int,
        summary_tokens: int = 256,
        batch: int = 4,
        concurrency: int = 4,
    ) -> None:
        self.conversations = conversations
        self.short_term = short_term
        self.model = model
        self.instructions = instructions
        self.window = window
        self.summary_tokens = summary_tokens
        self.batch = batch
        self.counter = TokenCounter(model.name)
        # Threads fill their windows at the same pace, so their summaries fall due together: a few at a
        # time keeps that burst of model calls and writes from slowing the turns being answered.
        self._writing = asyncio.Semaphore(concurrency)

    async def _due(self, thread: Thread) -> bool:
        """Whether ``batch`` turns may have left the window: asked of Redis, so most turns cost one round trip."""
        unsummarized = await self.short_term.unsummarized(thread)
        return unsummarized is None or unsummarized - self.short_term.window_turns >= self.batch

    async def maybe_summarize(self, thread: Thread, *, max_rounds: int = 8) -> Summary | None:
        """Fold messages that fell out of the window (at least ``batch`` of them) into the summary."""
        if not await self._due(thread):
            return None
        # One fold per thread at a time comes from the queue (the summary job's procrastinate lock), which a
        # killed worker's job gives up when it is queued again. A lock in Redis here would outlive a killed
        # worker for its whole life and turn every later summary job into a no-op (the summary fell minutes
        # behind: tests/browser/test_multi_instance_workers.py). Two folds that overlap anyway (a frozen worker
        # wakes up) fold no message twice: a summary written from a stored base replaces a shorter one only
        # (SummaryStore.put).
        latest = None
        async with self._writing:
            for round_ in range(max_rounds):
                if round_ and not await self._due(thread):
                    break
                folded = await self._fold_once(thread)
                if folded is None:
                    break
                latest = folded
        return latest

    async def _fold_once(self, thread: Thread) -> Summary | None:
        current, pending = await self.short_term.after_summary(thread)
        if pending is None:  # more turns wait than Redis keeps: read them all from Postgres
            current = await self.short_term.summaries.get(thread)
            after = current.covers_through_seq if current else 0
            pending = [Turn.of(m) for m in await self.conversations.messages(thread, after_seq=after) if not m.private]
        pending = [t for t in pending if t.role != "system" and not t.forgotten]
        outside = len(pending) - self.short_term.window_turns
        if outside < self.batch:
            return None
        fold = self._fitting(pending[:outside], current)
        if not fold:
            return None
        reply = await self.model.complete(self._request(current, fold), max_tokens=self.summary_tokens)
        text = reply.text.strip()
        if not text:
            log.warning("the model wrote an empty summary for thread %s", thread.id)
            return None
        return await self.short_term.save_summary(
            thread,
            Summary(text, fold[-1].seq, self.model.name),
            sources=[t.message_id for t in fold],
            extends=current.covers_through_seq if current else None,
        )

    def _fitting(self, messages: list[Turn], current: Summary | None) -> list[Turn]:
        """The oldest messages whose summarising request fits the model's window."""
        room = self.window - self.summary_tokens - self.counter.text(self.instructions) - 64
        room -= self.counter.text(current.content) if current else 0
        chosen: list[Turn] = []
        for message in messages:
            cost = self.counter.text(self._line(message)) + 2
            if cost > room:
                if not chosen:  # one huge message: summarise its start rather than never moving on
                    chosen.append(replace(message, content=self.counter.truncate(message.content, max(room - 16, 0))))
                break
            chosen.append(message)
            room -= cost
        return chosen

    @staticmethod
    def _line(message: Turn) -> str:
        who = message.speaker or message.role
        return f"{who}: {message.for_model}"

    def _request(self, current: Summary | None, fold: list[Turn]) -> list[ChatMessage]:
        previous = current.content if current else "(none yet)"
        body = "Summary so far:\n" + previous + "\n\nNew messages:\n" + "\n".join(self._line(m) for m in fold)
        return [ChatMessage("system", self.instructions), ChatMessage("user", body)]
