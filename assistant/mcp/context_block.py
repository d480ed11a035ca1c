"""`get_context`: the standalone tiers (pinned memories, long-term memory) for a query, as one block under a
token budget, packed by the context manager's one packer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from assistant.pipeline.memory_use import OFF_FOR_ALL
from assistant.providers.tokens import TokenCounter
from assistant.runtime import Runtime
from memory import text_input

# The client's model is unknown: count with a common tokenizer (the benchmark's).
TOKENIZER_MODEL = "gpt-4o-mini"
MIN_TOKENS, MAX_TOKENS = 50, 8000


async def context_block(runtime: Runtime, user_id: uuid.UUID, query: str, max_tokens: int) -> dict[str, Any]:
    """The text to put in a prompt, and what it holds (each recalled item with score, reason and source)."""
    query = text_input.free_text(query, "the query", max_chars=text_input.MAX_QUERY_CHARS, allow_empty=True)
    budget = max(MIN_TOKENS, min(MAX_TOKENS, max_tokens))
    # The user's "long-term memory off for all chats" holds for other tools too: pinned memories only.
    long_term = (await runtime.conversations.preferences(user_id)).get("memory", True) is not False
    block = await runtime.context.block(
        user_id,
        query,
        model=TOKENIZER_MODEL,
        budget=budget,
        now=datetime.now(UTC),
        long_term_off=None if long_term else OFF_FOR_ALL,
    )
    recalled = [item for item in block.items if item.kind != "pinned"]
    return {
        "text": block.text,
        "tokens": TokenCounter(TOKENIZER_MODEL).text(block.text) if block.text else 0,
        "budget": budget,
        "pinned": len(block.items) - len(recalled),
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
            for item in recalled
        ],
    }
