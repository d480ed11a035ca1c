"""The rolling summary: the model folds turns that left the short-term window into it, off the reply path."""

from __future__ import annotations

import logging
import uuid

from assistant.context.tokens import TokenCounter
from assistant.providers.base import ChatMessage, ChatModel
from memory.conversations import ConversationStore, Message, Thread
from memory.short_term.summaries import Summary
from memory.short_term.window import ShortTermMemory

log = logging.getLogger("assistant.summarizer")
LOCK_TTL_S = 300


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
    ) -> None:
        self.conversations = conversations
        self.short_term = short_term
        self.model = model
        self.instructions = instructions
        self.window = window
        self.summary_tokens = summary_tokens
        self.batch = batch
        self.counter = TokenCounter(model.name)

    async def maybe_summarize(self, thread: Thread, *, max_rounds: int = 8) -> Summary | None:
        """Fold messages that fell out of the window (at least ``batch`` of them) into the summary."""
        lock = self.short_term.keys.thread(thread.user_id, thread.id, "summarizing")
        token = uuid.uuid4().hex
        if not await self.short_term.redis.set(lock, token, nx=True, ex=LOCK_TTL_S):
            return None  # another worker is on it
        try:
            latest = None
            for _ in range(max_rounds):
                folded = await self._fold_once(thread)
                if folded is None:
                    break
                latest = folded
            return latest
        finally:
            if await self.short_term.redis.get(lock) == token:
                await self.short_term.redis.delete(lock)

    async def _fold_once(self, thread: Thread) -> Summary | None:
        current = await self.short_term.summaries.get(thread)
        after = current.covers_through_seq if current else 0
        pending = [m for m in await self.conversations.messages(thread, after_seq=after) if m.role != "system"]
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
        return await self.short_term.save_summary(thread, Summary(text, fold[-1].seq, self.model.name))

    def _fitting(self, messages: list[Message], current: Summary | None) -> list[Message]:
        """The oldest messages whose summarising request fits the model's window."""
        room = self.window - self.summary_tokens - self.counter.text(self.instructions) - 64
        room -= self.counter.text(current.content) if current else 0
        chosen: list[Message] = []
        for message in messages:
            cost = self.counter.text(self._line(message)) + 2
            if cost > room:
                if not chosen:  # one huge message: summarise its start rather than never moving on
                    chosen.append(
                        message.model_copy(
                            update={"content": self.counter.truncate(message.content, max(room - 16, 0))}
                        )
                    )
                break
            chosen.append(message)
            room -= cost
        return chosen

    @staticmethod
    def _line(message: Message) -> str:
        who = message.speaker or message.role
        return f"{who}: {message.content}"

    def _request(self, current: Summary | None, fold: list[Message]) -> list[ChatMessage]:
        previous = current.content if current else "(none yet)"
        body = "Summary so far:\n" + previous + "\n\nNew messages:\n" + "\n".join(self._line(m) for m in fold)
        return [ChatMessage("system", self.instructions), ChatMessage("user", body)]
