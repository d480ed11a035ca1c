"""A cache for functions of one text that recall calls on every candidate of every question.

The same turns come back question after question, and within a question several rules read the same text, so
such results are kept. Only texts of at most ``longest`` characters are kept, so a cache holds at most
``entries`` x ``longest`` characters of keys however long the stored messages are. The kept texts are stored
memories: ``forget_cached_texts`` empties every such cache, and the memory service calls it after each forgetting.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache, wraps
from typing import Any, TypeVar

T = TypeVar("T")

CACHED_CHARS = 2000
_CACHES: list[Any] = []


def per_text(entries: int, longest: int = CACHED_CHARS) -> Callable[[Callable[[str], T]], Callable[[str], T]]:
    """Keep the ``entries`` most recent results of a function of one text (a longer text is computed each time)."""

    def decorate(compute: Callable[[str], T]) -> Callable[[str], T]:
        cached = lru_cache(maxsize=entries)(compute)
        _CACHES.append(cached)

        @wraps(compute)
        def call(text: str) -> T:
            return cached(text) if len(text) <= longest else compute(text)

        return call

    return decorate


def cached_texts() -> int:
    """How many texts the caches hold."""
    return sum(cache.cache_info().currsize for cache in _CACHES)


async def forget_cached_texts(_forgotten: object = None) -> int:
    """Drop every kept result: the texts they are keyed by may hold something forgotten."""
    for cache in _CACHES:
        cache.cache_clear()
    return 0
