"""Every key the app builds for one thread, or for one user, hashes to one Redis Cluster slot, so the Lua scripts
and MULTI blocks over them run on one node; and cluster URLs are read as documented."""

from __future__ import annotations

import uuid

import pytest
import redis.asyncio as aioredis
from redis.crc import key_slot

from memory.errors import StoreError
from memory.short_term.cluster import is_cluster_url, split_cluster_url
from memory.short_term.connection import KeySpace, open_redis
from memory.short_term.rate_limit import DAY, MINUTE, Limits, RateLimiter

THREAD_PARTS = ("window", "summary", "state")


def _slots(keys: list[str]) -> set[int]:
    return {key_slot(key.encode()) for key in keys}


def test_every_key_of_a_thread_is_in_one_slot() -> None:
    keys = KeySpace("assistant")
    user = uuid.uuid4()
    for _ in range(50):
        thread = uuid.uuid4()
        built = [keys.thread(user, thread, part) for part in THREAD_PARTS]
        assert len(_slots(built)) == 1, built
    threads = [uuid.uuid4() for _ in range(50)]
    assert len(_slots([keys.thread(user, t, "window") for t in threads])) > 1  # threads spread over the cluster


async def test_every_key_of_a_user_is_in_one_slot_over_minutes_and_days() -> None:
    client = aioredis.Redis()  # never connected: the limiter only builds keys here
    try:
        limiter = RateLimiter(client, "assistant", Limits())
        for _ in range(20):
            user = uuid.uuid4()
            built = [key for step in range(0, 3 * DAY, 7 * MINUTE + 1) for key in limiter._keys(user, 1.7e9 + step)]
            assert len(set(built)) > 3 and len(_slots(built)) == 1
            assert _slots([KeySpace("assistant").user(user, "rate")]) == _slots(built)
    finally:
        await client.aclose()


def test_cluster_urls_name_seed_nodes_and_keep_credentials_and_options() -> None:
    assert is_cluster_url("redis+cluster://h:7000") and is_cluster_url("rediss+cluster://h:7000")
    assert not is_cluster_url("redis://h:6379/0") and not is_cluster_url("unix:///tmp/redis.sock")
    plain, more = split_cluster_url(
        "rediss+cluster://app:p@ss@a.example:7000,b.example:7001,[::1]:7002?ssl_cert_reqs=none"
    )
    assert plain == "rediss://app:p@ss@a.example:7000?ssl_cert_reqs=none"
    assert more == [("b.example", 7001), ("::1", 7002)]
    assert split_cluster_url("redis+cluster://10.0.0.5:6379") == ("redis://10.0.0.5:6379", [])


@pytest.mark.parametrize("url", ["redis+cluster://", "redis+cluster://host", "redis+cluster://a:1,b"])
async def test_a_bad_cluster_url_is_a_clear_error(url: str) -> None:
    with pytest.raises(StoreError, match="bad Redis URL"):
        await open_redis(url)
