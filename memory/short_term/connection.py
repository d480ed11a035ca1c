"""The async Redis client and the key layout every short-term store uses."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, TypeAlias

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from memory.errors import StoreError
from memory.redaction import redact
from memory.short_term.cluster import is_cluster_url, open_cluster
from memory.store_faults import REDIS_FAULTS, redis_faults

# A command that meets a dropped connection is sent again on a new one, a few times within about half a second:
# a connection Redis closed, or a quick restart, costs a short wait, not an error. A command sent again may have
# run once already; a turn added to a window twice is found and the window rebuilt (see ``window.py``).
RETRIES = 3

# One Redis server (the embedded default, or a ``redis://`` URL), or a cluster (a ``redis+cluster://`` URL).
RedisClient: TypeAlias = aioredis.Redis | RedisCluster


@dataclass(frozen=True)
class KeySpace:
    """Key names under one prefix. A cluster keeps keys with one ``{hash tag}`` on one node: every key of a
    thread has ``{t:<thread>}``, every per-user key ``{u:<user>}`` (``docs/deployment.md``, Redis Cluster)."""

    prefix: str

    def thread(self, user_id: uuid.UUID, thread_id: uuid.UUID, part: str) -> str:
        return f"{self.prefix}:u:{user_id}:{{t:{thread_id}}}:{part}"

    def user(self, user_id: uuid.UUID, part: str) -> str:
        return f"{self.prefix}:{part}:{{u:{user_id}}}"

    def user_pattern(self, user_id: uuid.UUID) -> str:
        return f"{self.prefix}:u:{user_id}:*"


class _StorePipeline(Pipeline):
    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        async with redis_faults():
            return await super().execute(raise_on_error)


class StoreRedis(aioredis.Redis):
    """A Redis client whose connection faults are ``StoreError`` (see ``memory/store_faults.py``)."""

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        async with redis_faults():
            return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Pipeline:
        return _StorePipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)


async def open_redis(url: str) -> RedisClient:
    """A client of the server (or, for ``redis+cluster://``, the cluster) at ``url``, checked with a PING."""
    options: dict[str, Any] = {
        "decode_responses": True,
        "retry": Retry(ExponentialBackoff(cap=0.25, base=0.05), RETRIES),
        "retry_on_error": list(REDIS_FAULTS),
        "socket_connect_timeout": 5,
        "health_check_interval": 30,  # a connection idle that long is pinged before use
    }
    client: RedisClient
    try:
        client = open_cluster(url, **options) if is_cluster_url(url) else StoreRedis.from_url(url, **options)
    except ValueError as exc:
        raise StoreError(f"bad Redis URL {redact(url)}: {redact(str(exc))}") from exc
    try:
        await client.ping()
    except Exception as exc:
        await client.aclose()
        raise StoreError(f"cannot connect to Redis at {redact(url)}: {redact(str(exc))}") from exc
    return client
