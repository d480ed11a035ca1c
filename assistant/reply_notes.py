"""Notes every face shows under a reply: one that is incomplete (stopped, or the provider's stream broke off,
stalled or ended unsaid), and one the model had to end at the answer length limit."""

from __future__ import annotations

from assistant.providers.base import INCOMPLETE, LENGTH
from memory.conversations import Message

_INCOMPLETE = {
    "stopped": "⏹ Stopped: this reply is incomplete.",
    "cut": "⚠️ Incomplete: the connection to the model provider broke off in the middle of this reply.",
    "stalled": "⚠️ Incomplete: the model provider stopped sending in the middle of this reply.",
    "unfinished": "⚠️ Incomplete: the model provider ended this reply without saying it was finished.",
}
_AGAIN = " Send your message again for a full answer."


def hit_cap(message: Message) -> bool:
    """Whether the provider reported that this reply ended at its token limit, not by itself."""
    return bool(message.usage) and (message.usage or {}).get("finish_reason") == LENGTH


def incomplete_reason(message: Message) -> str | None:
    """Why a partial reply is partial ("stopped" for one kept before reasons were recorded); None otherwise."""
    if message.status != "partial":
        return None
    return str((message.usage or {}).get(INCOMPLETE) or "stopped")


def partial_note(message: Message) -> str | None:
    """One sentence for a partial reply, saying why it is partial; None for any other message."""
    reason = incomplete_reason(message)
    if reason is None:
        return None
    note = _INCOMPLETE.get(reason, _INCOMPLETE["cut"])
    return note if reason == "stopped" else note + _AGAIN


def cap_note(message: Message) -> str | None:
    """One sentence for a reply cut at the answer length limit; None for any other reply."""
    if not hit_cap(message):
        return None
    tokens = (message.usage or {}).get("completion_tokens")
    size = f" ({tokens} tokens)" if tokens else ""
    return f"✂️ Cut off: this reply reached the answer length limit{size}. Ask it to continue for the rest."


def reply_note(message: Message) -> str | None:
    """The note to show under this reply, if any."""
    return partial_note(message) or cap_note(message)
