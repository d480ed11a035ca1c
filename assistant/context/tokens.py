"""Token counts with the target model's tokenizer, through LiteLLM."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

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


@lru_cache(maxsize=8192)
def _count_text(model: str, text: str) -> int:
    return int(litellm.token_counter(model=model, text=text))
