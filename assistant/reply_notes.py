"""Notes every face shows under a reply: the one for a reply the model had to end at the answer length limit."""

from __future__ import annotations

from assistant.providers.base import LENGTH
from memory.conversations import Message


def hit_cap(message: Message) -> bool:
    """Whether the provider reported that this reply ended at its token limit, not by itself."""
    return bool(message.usage) and (message.usage or {}).get("finish_reason") == LENGTH


def cap_note(message: Message) -> str | None:
    """One sentence for a reply cut at the answer length limit; None for any other reply."""
    if not hit_cap(message):
        return None
    tokens = (message.usage or {}).get("completion_tokens")
    size = f" ({tokens} tokens)" if tokens else ""
    return f"✂️ Cut off: this reply reached the answer length limit{size}. Ask it to continue for the rest."
