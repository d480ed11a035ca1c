"""`assistant bench forget`: what forgetting costs on the request path and in the at-rest pass after it
(memory/db/at_rest.py), with a user holding a given number of memories and messages.

Two forgettings are timed against that user's data, which stays: one memory of theirs (the pass vacuums
the touched tables), then everything of a second, small user (the pass rewrites the touched tables, so
its cost is that of the data that stays). The benchmark users are erased afterwards.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from assistant.bench.corpus import Progress
from assistant.bench.stats import machine
from assistant.providers.embedders import HashEmbedder
from assistant.runtime import Runtime
from assistant.settings import Settings

BATCH = 1000


async def _fill(runtime: Runtime, user_id: uuid.UUID, memories: int, messages: int, progress: Progress) -> None:
    """Messages and memories (random 384-d vectors, as the HNSW index sees real ones) straight in SQL."""
    thread = await runtime.conversations.create_thread(user_id)
    total = memories + messages
    async with runtime.pool.connection() as conn:
        for start in range(0, messages, BATCH):
            await conn.execute(
                """INSERT INTO messages (thread_id, user_id, role, content)
                   SELECT %s, %s, CASE WHEN g %% 2 = 0 THEN 'user' ELSE 'assistant' END,
                          'message ' || g || ' ' || repeat(md5(g::text), 6)
                   FROM generate_series(%s::int, %s::int) g""",
                (thread.id, user_id, start + 1, min(start + BATCH, messages)),
            )
            progress("messages", min(start + BATCH, messages), total)
        for start in range(0, memories, BATCH):
            await conn.execute(
                """INSERT INTO memories (user_id, kind, origin, text, embedding)
                   SELECT %s, 'semantic', 'chat', 'fact ' || g || ' ' || repeat(md5(g::text), 4),
                          (SELECT array_agg(random())::vector(384) FROM generate_series(1, 384) WHERE g > 0)
                   FROM generate_series(%s::int, %s::int) g""",
                (user_id, start + 1, min(start + BATCH, memories)),
            )
            progress("memories", messages + min(start + BATCH, memories), total)
        await conn.execute("CHECKPOINT")  # the load's own dirty pages are not the pass's to write


async def _timed(runtime: Runtime, forget: Any) -> dict[str, Any]:
    started = time.perf_counter()
    await forget
    request_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    await runtime.memories.at_rest.settle()
    done = runtime.memories.at_rest.last
    return {
        "request_ms": round(request_ms, 1),
        "pass_s": round(time.perf_counter() - started, 2),
        "vacuum_s": round(done.vacuum_s, 2) if done else None,
        "wal_s": round(done.wal_s, 2) if done else None,
        "rewritten": done.full if done else [],
        "skipped": done.skipped if done else [],
    }


async def run_forget_bench(settings: Settings, *, memories: int, messages: int, progress: Progress) -> dict[str, Any]:
    runtime = await Runtime.start(settings, embedder=HashEmbedder(), chat=False, check_embedder=False)
    tag = uuid.uuid4().hex[:8]
    made: list[uuid.UUID] = []
    try:
        big = await runtime.conversations.ensure_user(f"forget-bench-{tag}")
        small = await runtime.conversations.ensure_user(f"forget-bench-{tag}-other")
        made += [big.id, small.id]
        await _fill(runtime, big.id, memories, messages, progress)
        await runtime.memories.remember(small.id, "A note that is forgotten with everything else.")
        async with runtime.pool.connection() as conn:
            sizes = await (
                await conn.execute(
                    "SELECT relname, round(pg_total_relation_size(oid) / 1048576.0, 1) FROM pg_class "
                    "WHERE relname IN ('memories', 'messages') AND relkind = 'r'"
                )
            ).fetchall()
            row = await (await conn.execute("SELECT id FROM memories WHERE user_id = %s LIMIT 1", (big.id,))).fetchone()
        assert row is not None
        progress("forgetting one memory", 0, 2)
        one = await _timed(runtime, runtime.memories.forget(big.id, [row[0]]))
        progress("forgetting everything of another user", 1, 2)
        everything = await _timed(runtime, runtime.memories.forget_all(small.id, conversations=True))
        progress("done", 2, 2)
        return {
            "memories": memories,
            "messages": messages,
            "table_mb": {str(name): float(mb) for name, mb in sizes},
            "forget_one": one,
            "forget_everything": everything,
            "machine": machine(),
        }
    finally:
        for user_id in made:
            await runtime.memories.erase_user(user_id)
        await runtime.close()
