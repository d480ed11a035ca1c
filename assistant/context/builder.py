"""The seam between the turn pipeline and whatever assembles the model's input."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from assistant.providers.base import ChatMessage
from memory.conversations import ConversationStore, Thread


@dataclass(frozen=True)
class BuiltContext:
    messages: list[ChatMessage]


class ContextBuilder(Protocol):
    async def build(self, thread: Thread) -> BuiltContext:
        """The messages for the model; the thread's log already ends with the new user message."""
        ...


class RecentTurnsContext:
    """System prompt plus the thread's newest messages."""

    def __init__(self, conversations: ConversationStore, system_prompt: str, history_turns: int) -> None:
        self.conversations = conversations
        self.system_prompt = system_prompt
        self.history_turns = history_turns

    async def build(self, thread: Thread) -> BuiltContext:
        recent = await self.conversations.messages(thread, last=max(1, self.history_turns))
        messages = [ChatMessage("system", self.system_prompt)]
        messages += [ChatMessage(m.role, m.content) for m in recent if m.role in ("user", "assistant") and m.content]
        return BuiltContext(messages)
