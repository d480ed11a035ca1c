"""`get_context`: pinned memories and the long-term tier for a query, as one block under a token budget."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from assistant.context.quoting import FENCES, fence, neutralise
from assistant.pipeline.memory_use import OFF_FOR_ALL
from assistant.providers.tokens import TokenCounter
from assistant.runtime import Runtime
from memory import text_input

# The client's model is unknown: count with a common tokenizer (the benchmark's).
TOKENIZER_MODEL = "gpt-4o-mini"
MIN_TOKENS, MAX_TOKENS = 50, 8000
FENCE = FENCES["core"]


async def context_block(runtime: Runtime, user_id: uuid.UUID, query: str, max_tokens: int) -> dict[str, Any]:
    """The text to put in a prompt, and what it holds (each recalled item with score, reason and source)."""
    query = text_input.free_text(query, "the query", max_chars=text_input.MAX_QUERY_CHARS, allow_empty=True)
    budget = max(MIN_TOKENS, min(MAX_TOKENS, max_tokens))
    counter = TokenCounter(TOKENIZER_MODEL)
    templates = runtime.context.templates
    sections: list[str] = []
    # Stored text is quoted data (assistant/context/quoting.py): the note, then fenced sections.
    used = counter.text(templates.data_note) + 2
    pinned_lines: list[str] = []
    heading = counter.text(templates.core_heading + fence(FENCE, "")) + 2
    for memory in await runtime.memories.pinned(user_id):
        line = f"- {neutralise(memory.text)}"
        cost = counter.text(line) + 1
        if used + heading + cost > budget:
            break
        pinned_lines.append(line)
        used += cost
    if pinned_lines:
        used += heading
        sections.append(templates.core_heading + "\n" + fence(FENCE, "\n".join(pinned_lines)))
    items = []
    remaining = budget - used - counter.text(templates.long_term_heading + fence(FENCE, "")) - 2
    # The user's "long-term memory off for all chats" holds for other tools too: pinned memories only.
    long_term = (await runtime.conversations.preferences(user_id)).get("memory", True) is not False
    if long_term and remaining > 0 and query.strip():
        items = await runtime.context.long_term_context(
            user_id, query, model=TOKENIZER_MODEL, budget=remaining, now=datetime.now(UTC)
        )
    if items:
        sections.append(templates.long_term_heading + "\n" + fence(FENCE, "\n".join(item.text for item in items)))
    text = "\n\n".join([templates.data_note, *sections]) if sections else ""
    return {
        "text": text,
        "tokens": counter.text(text) if text else 0,
        "budget": budget,
        "pinned": len(pinned_lines),
        "long_term_off": None if long_term else OFF_FOR_ALL,
        "items": [
            {
                "id": item.id,
                "kind": item.kind,
                "score": item.score,
                "reason": item.reason,
                "thread_id": str(item.thread_id) if item.thread_id else None,
                "message_ids": [str(m) for m in item.message_ids],
            }
            for item in items
        ],
    }
