"""One turn of a conversation, with the user's message durable before the model is called."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from assistant.context.builder import ContextBuilder
from assistant.providers.base import ChatModel, Completed, TextDelta
from memory.conversations import ConversationStore, Message, Thread
from memory.errors import InvalidInputError

MAX_MESSAGE_CHARS = 1_000_000


@dataclass(frozen=True)
class TurnStarted:
    user_message: Message


@dataclass(frozen=True)
class ReplyDelta:
    text: str


@dataclass(frozen=True)
class TurnFinished:
    user_message: Message
    reply: Message


TurnEvent = TurnStarted | ReplyDelta | TurnFinished


class TurnPipeline:
    def __init__(
        self, conversations: ConversationStore, model: ChatModel, context: ContextBuilder, *, answer_tokens: int
    ) -> None:
        self.conversations = conversations
        self.model = model
        self.context = context
        self.answer_tokens = answer_tokens

    async def run(self, thread: Thread, text: str) -> AsyncIterator[TurnEvent]:
        """Stream one turn. A cancelled turn keeps its partial reply, marked ``partial``."""
        if not text.strip():
            raise InvalidInputError("the message is empty")
        if len(text) > MAX_MESSAGE_CHARS:
            raise InvalidInputError(f"the message is longer than {MAX_MESSAGE_CHARS:,} characters")
        user_message = await self.conversations.append_message(thread, "user", text)
        yield TurnStarted(user_message)
        context = await self.context.build(thread)
        parts: list[str] = []
        started = time.perf_counter()
        try:
            async for event in self.model.stream(context.messages, max_tokens=self.answer_tokens):
                if isinstance(event, TextDelta):
                    parts.append(event.text)
                    yield ReplyDelta(event.text)
                elif isinstance(event, Completed):
                    reply = await self.conversations.append_message(
                        thread,
                        "assistant",
                        event.text,
                        model=event.model,
                        usage=event.usage.as_dict(),
                        latency_ms=(time.perf_counter() - started) * 1000,
                    )
                    yield TurnFinished(user_message, reply)
        except (asyncio.CancelledError, GeneratorExit):
            if parts:
                # Shielded so the partial reply is stored even though this task is being cancelled.
                await asyncio.shield(
                    self.conversations.append_message(
                        thread, "assistant", "".join(parts), status="partial", model=self.model.name
                    )
                )
            raise
