"""Token counts with the target model's tokenizer, as LiteLLM counts them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from assistant.providers.base import ChatMessage

REPLY_PRIMING_TOKENS = 3  # LiteLLM adds these to every count of messages (the reply's start)


class TokenCounter:
    def __init__(self, model: str) -> None:
        self.model = model

    def text(self, text: str) -> int:
        return _count_text(self.model, text)

    def messages(self, messages: Sequence[ChatMessage]) -> int:
        """What ``litellm.token_counter(messages=...)`` says, from cached counts of each part."""
        per_message = _per_message(self.model)
        parts = sum(per_message + self.text(m.role) + self.text(m.content) for m in messages)
        return parts + REPLY_PRIMING_TOKENS

    def truncate(self, text: str, max_tokens: int) -> str:
        """The longest prefix of ``text`` that is at most ``max_tokens`` tokens."""
        if max_tokens <= 0:
            return ""
        codec = _codec(self.model)
        tokens = codec.encode(text)
        if len(tokens) <= max_tokens:
            return text
        prefix = codec.decode(tokens[:max_tokens])
        while prefix and self.text(prefix) > max_tokens:  # decoding can merge tokens differently
            prefix = prefix[:-1]
        return prefix


@dataclass(frozen=True)
class _Codec:
    encode: Callable[[str], list[int]]
    decode: Callable[[list[int]], str]


@lru_cache(maxsize=64)
def _codec(model: str) -> _Codec:
    """The tokenizer LiteLLM counts with for ``model``, chosen once: LiteLLM chooses again on every
    count, which costs 0.4-1.2 ms a call here against a few microseconds for the count itself."""
    from assistant.providers.offline_litellm import litellm  # first: it switches off LiteLLM's network look-ups

    from litellm.litellm_core_utils.token_counter import openai_tokenizer_encoding  # isort: skip

    chosen: Any = litellm.utils.select_tokenizer(model=model)
    if chosen["type"] == "openai_tokenizer":
        # Not ``chosen["tokenizer"]``: gpt-4o models are counted with o200k_base, not the cl100k_base chosen.
        encoding = openai_tokenizer_encoding(model)
        return _Codec(lambda text: encoding.encode(text, disallowed_special=()), encoding.decode)
    tokenizer = chosen["tokenizer"]
    return _Codec(lambda text: list(tokenizer.encode(text).ids), lambda tokens: str(tokenizer.decode(tokens)))


@lru_cache(maxsize=64)
def _per_message(model: str) -> int:
    from assistant.providers.offline_litellm import litellm  # noqa: F401  (first: no network look-ups)

    from litellm.litellm_core_utils.token_counter import uses_legacy_message_accounting  # isort: skip

    return 4 if uses_legacy_message_accounting(model) else 3


@lru_cache(maxsize=8192)
def _count_text(model: str, text: str) -> int:
    return len(_codec(model).encode(text))


async def forget_counted_texts(_forgotten: object = None) -> int:
    """Drop the cached token counts, keyed by the texts counted (one may hold something forgotten)."""
    _count_text.cache_clear()
    return 0
