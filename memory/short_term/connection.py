"""The async Redis client and the key layout every short-term store uses."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import redis.asyncio as aioredis

from memory.db.pool import redact
from memory.errors import StoreError


@dataclass(frozen=True)
class KeySpace:
    """Key names under one prefix. Per-thread keys share a ``{hash tag}`` so a cluster keeps them together."""

    prefix: str

    def thread(self, user_id: uuid.UUID, thread_id: uuid.UUID, part: str) -> str:
        return f"{self.prefix}:u:{user_id}:{{t:{thread_id}}}:{part}"

    def user_pattern(self, user_id: uuid.UUID) -> str:
        return f"{self.prefix}:u:{user_id}:*"


async def open_redis(url: str) -> aioredis.Redis:
    client = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        await client.ping()
    except Exception as exc:
        await client.aclose()
        raise StoreError(f"cannot connect to Redis at {redact(url)}: {redact(str(exc))}") from exc
    return client
