"""Token counts with the target model's tokenizer, through LiteLLM."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from assistant.providers.base import ChatMessage
from assistant.providers.offline_litellm import litellm


class TokenCounter:
    def __init__(self, model: str) -> None:
        self.model = model

    def text(self, text: str) -> int:
        return _count_text(self.model, text)

    def messages(self, messages: Sequence[ChatMessage]) -> int:
        return int(litellm.token_counter(model=self.model, messages=[m.as_dict() for m in messages]))

    def truncate(self, text: str, max_tokens: int) -> str:
        """The longest prefix of ``text`` that is at most ``max_tokens`` tokens."""
        if max_tokens <= 0:
            return ""
        tokens = list(litellm.encode(model=self.model, text=text))
        if len(tokens) <= max_tokens:
            return text
        prefix = str(litellm.decode(model=self.model, tokens=tokens[:max_tokens]))
        while prefix and self.text(prefix) > max_tokens:  # decoding can merge tokens differently
            prefix = prefix[:-1]
        return prefix


@lru_cache(maxsize=64)
def _tokenizer(model: str) -> Callable[[str], int]:
    """The tokenizer LiteLLM picks for ``model``, chosen once: LiteLLM chooses again on every count,
    which costs 0.4-1.2 ms a call here against a few microseconds for the count itself."""
    from litellm.utils import select_tokenizer

    chosen: Any = select_tokenizer(model=model)
    encoder = chosen["tokenizer"]
    if chosen["type"] == "openai_tokenizer":
        return lambda text: len(encoder.encode(text, disallowed_special=()))

    def count(text: str) -> int:
        encoded = encoder.encode(text)
        return len(encoded.ids if hasattr(encoded, "ids") else encoded)

    return count


@lru_cache(maxsize=8192)
def _count_text(model: str, text: str) -> int:
    return _tokenizer(model)(text)
