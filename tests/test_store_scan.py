"""The residue scanner finds a marker in Postgres rows and Redis values, and nothing where there is none."""

from __future__ import annotations

import redis.asyncio as aioredis
from psycopg_pool import AsyncConnectionPool

from memory.conversations import ConversationStore
from tests.store_scan import scan


async def test_scan_finds_a_marker_in_both_stores(
    pool: AsyncConnectionPool, redis: aioredis.Redis, redis_prefix: str, conversations: ConversationStore
) -> None:
    assert not await scan(pool, redis, redis_prefix, "zebra-marker-1")
    user = await conversations.ensure_user("ann")
    thread = await conversations.create_thread(user.id, title="t")
    await conversations.append_message(thread, "user", "my code is Zebra-Marker-1")
    await redis.rpush(f"{redis_prefix}:x:window", "a zebra-marker-1 b")
    residue = await scan(pool, redis, redis_prefix, "zebra-marker-1")
    assert residue.tables == {"messages": 1}
    assert residue.redis_keys == [f"{redis_prefix}:x:window"]
