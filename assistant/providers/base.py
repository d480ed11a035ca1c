"""The one async interface for chat models."""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from memory.errors import ProviderError

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str

    def as_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost_usd": self.cost_usd,
        }


@dataclass(frozen=True)
class TextDelta:
    """A piece of the reply as it streams."""

    text: str


@dataclass(frozen=True)
class Completed:
    """The end of a stream: the whole reply, what it cost, and why it ended.

    ``finish_reason`` is the provider's: ``"stop"`` (the model ended it), ``"length"`` (it reached
    ``max_tokens``), or None when the provider did not say.
    """

    text: str
    model: str
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None

    @property
    def cut_at_cap(self) -> bool:
        return self.finish_reason == LENGTH


LENGTH = "length"

# Why a stored reply is partial: the user stopped it, or the provider's stream broke off, stalled, or ended
# without the provider saying it had finished.
Incomplete = Literal["stopped", "cut", "stalled", "unfinished"]
INCOMPLETE = "incomplete"  # the key of that reason in a stored reply's ``usage``


class StreamIncomplete(ProviderError):
    """The provider's stream ended, broke or stalled after some text, before the provider said it had finished."""

    def __init__(self, message: str, *, reason: Incomplete, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.reason: Incomplete = reason


StreamEvent = TextDelta | Completed


class ChatModel(abc.ABC):
    """A chat model. ``stream`` yields ``TextDelta``s and ends with exactly one ``Completed``."""

    name: str
    context_window: int | None = None
    # The most tokens an answer should take with this model (None: only the settings' answer length applies).
    answer_cap: int | None = None

    @abc.abstractmethod
    def stream(self, messages: Sequence[ChatMessage], *, max_tokens: int) -> AsyncIterator[StreamEvent]:
        """Stream a reply; raises ``ProviderError`` on failure."""

    async def complete(self, messages: Sequence[ChatMessage], *, max_tokens: int) -> Completed:
        """The whole reply at once."""
        async for event in self.stream(messages, max_tokens=max_tokens):
            if isinstance(event, Completed):
                return event
        raise AssertionError("a chat model stream ended without Completed")

    async def aclose(self) -> None:
        """Release what the model holds (servers, clients)."""
        return None
