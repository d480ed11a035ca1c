"""`assistant bench ingest`: episodic ingestion throughput against the embedder's own batch throughput."""

from __future__ import annotations

import time
import uuid
from typing import Any

from assistant.bench.context import SENTENCES
from assistant.bench.stats import machine
from assistant.runtime import Runtime
from assistant.settings import Settings
from memory.conversations import Message
from memory.long_term.episodic import passage_text

BATCH = 32


def _texts(count: int) -> list[str]:
    return [f"{SENTENCES[i % len(SENTENCES)]} Note {i}: day {i % 28 + 1}, item {i * 7 % 101}." for i in range(count)]


async def run_ingest_bench(settings: Settings, *, turns: int) -> dict[str, Any]:
    runtime = await Runtime.start(settings, chat=False)
    user = await runtime.conversations.ensure_user(f"bench-ingest-{uuid.uuid4().hex[:8]}")
    embedder = runtime.memories.embedder
    texts = _texts(turns)
    try:
        thread = await runtime.conversations.create_thread(user.id, title="ingest benchmark")
        messages: list[Message] = []
        for text in texts:
            messages.append(await runtime.conversations.append_message(thread, "user", text))
        async with runtime.pool.connection() as conn:
            await conn.execute("ANALYZE messages")  # settle what appending the turns set off, before the clock
        # Both runs embed the same strings: each turn with its speaker, as episodic memory stores it.
        passages = [passage_text(m) for m in messages]
        await embedder.passages(passages[:BATCH])  # warm up (loads the model)
        started = time.perf_counter()
        for start in range(0, turns, BATCH):
            await embedder.passages(passages[start : start + BATCH])
        embed_s = time.perf_counter() - started

        started = time.perf_counter()
        await runtime.episodic.store_batches(messages[start : start + BATCH] for start in range(0, turns, BATCH))
        store_s = time.perf_counter() - started
        embed_rate, store_rate = turns / embed_s, turns / store_s
        return {
            "benchmark": "ingest",
            "embedder": embedder.name,
            "turns": turns,
            "batch": BATCH,
            "embedder_passages_per_s": round(embed_rate, 1),
            "episodic_turns_per_s": round(store_rate, 1),
            "store_overhead_pct": round((embed_rate / store_rate - 1) * 100, 1),
            "machine": machine(),
        }
    finally:
        await runtime.short_term.forget_user(user.id)
        await runtime.conversations.delete_user(user.id)
        await runtime.close()
