"""A short lock in Redis, held under a random token and released only by its holder."""

from __future__ import annotations

import uuid

from memory.short_term.connection import RedisClient

# Compare and delete in one step: a holder whose lock expired (and was taken by another) deletes nothing.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisLock:
    def __init__(self, redis: RedisClient, key: str, *, ttl_s: int) -> None:
        self.redis = redis
        self.key = key
        self.ttl_s = ttl_s
        self.token: str | None = None

    async def acquire(self) -> bool:
        """Take the lock if no one holds it; True when taken."""
        token = uuid.uuid4().hex
        if await self.redis.set(self.key, token, nx=True, ex=self.ttl_s):
            self.token = token
            return True
        return False

    async def release(self) -> bool:
        """Release the lock if this holder still has it; True when it was released."""
        if self.token is None:
            return False
        token, self.token = self.token, None
        return bool(await self.redis.eval(_RELEASE, 1, self.key, token))
