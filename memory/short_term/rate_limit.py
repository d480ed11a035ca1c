"""Per-user rate limits in Redis: turns per minute, turns per day and model tokens per day.

Fixed windows (the current minute, the current UTC day), one counter each, under a key with the user's
hash tag so a cluster keeps a user's counters together. A turn is admitted by a Lua script that checks
every limit and counts the turn only if all pass, so a refused turn does not count against the next
window. Tokens are added after the reply with what the provider reported.

Limits protect cost, not data: if Redis cannot be reached the turn is admitted (and a warning logged),
since refusing every turn while Redis restarts would be worse than a minute without limits. The
counters hold no text and are not under the user's short-term keys, so forgetting does not reset them;
they expire on their own (two windows after their own).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from redis.exceptions import RedisError

from memory.errors import RateLimitError, StoreError
from memory.short_term.connection import KeySpace, RedisClient

log = logging.getLogger("memory.rate_limit")
MINUTE = 60
DAY = 24 * 3600

# KEYS: turns this minute, turns today, tokens today. ARGV: their limits (0: none), then the two expiries.
# Returns 0 when the turn is admitted (and counted), else the number of the limit it reached.
_ADMIT = """
local limits = {tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])}
for i = 1, 3 do
  if limits[i] > 0 and tonumber(redis.call('GET', KEYS[i]) or '0') >= limits[i] then return i end
end
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[5])
return 0
"""


@dataclass(frozen=True)
class Limits:
    """What one user may do; 0 switches a limit off."""

    turns_per_minute: int = 30
    turns_per_day: int = 2000
    tokens_per_day: int = 0

    @property
    def any(self) -> bool:
        return bool(self.turns_per_minute or self.turns_per_day or self.tokens_per_day)


def _wait(seconds: float) -> str:
    seconds = max(1, round(seconds))
    if seconds < 120:
        return f"{seconds} s"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def _messages(count: int) -> str:
    return f"{count:,} message" + ("" if count == 1 else "s")


class RateLimiter:
    def __init__(
        self, redis: RedisClient, prefix: str, limits: Limits, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.keys = KeySpace(prefix)
        self.limits = limits
        self.clock = clock
        self._admit = redis.register_script(_ADMIT)

    def _keys(self, user_id: uuid.UUID, now: float) -> list[str]:
        base = self.keys.user(user_id, "rate")
        day = datetime.fromtimestamp(now, UTC).strftime("%Y%m%d")
        return [f"{base}:turns:m:{int(now // MINUTE)}", f"{base}:turns:d:{day}", f"{base}:tokens:d:{day}"]

    async def admit_turn(self, user_id: uuid.UUID) -> None:
        """Count one turn, or raise ``RateLimitError`` saying which limit was reached and when to retry."""
        if not self.limits.any:
            return
        now = self.clock()
        limits = self.limits
        try:
            reached = int(
                await self._admit(
                    keys=self._keys(user_id, now),
                    args=[limits.turns_per_minute, limits.turns_per_day, limits.tokens_per_day, 2 * MINUTE, 2 * DAY],
                )
            )
        except (RedisError, OSError, StoreError) as exc:
            log.warning("rate limits not checked (Redis: %s); the turn goes ahead", exc)
            return
        if reached:
            raise self._refusal(reached, now)

    async def spend_tokens(self, user_id: uuid.UUID, tokens: int) -> None:
        """Add a reply's tokens (prompt and answer) to the user's count for today."""
        if not self.limits.tokens_per_day or tokens <= 0:
            return
        key = self._keys(user_id, self.clock())[2]
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.incrby(key, tokens)
                pipe.expire(key, 2 * DAY)
                await pipe.execute()
        except (RedisError, OSError, StoreError) as exc:
            log.warning("tokens not counted (Redis: %s)", exc)

    async def usage(self, user_id: uuid.UUID) -> dict[str, int]:
        """This minute's and today's counts (for status output and tests)."""
        values = await self.redis.mget(self._keys(user_id, self.clock()))
        names = ("turns_this_minute", "turns_today", "tokens_today")
        return {name: int(value or 0) for name, value in zip(names, values, strict=True)}

    def _refusal(self, reached: int, now: float) -> RateLimitError:
        midnight = (datetime.fromtimestamp(now, UTC) + timedelta(days=1)).replace(hour=0, minute=0, second=0)
        until_midnight = midnight.timestamp() - now
        saved = "your message is saved"
        if reached == 1:
            wait = MINUTE - now % MINUTE
            what = f"you have sent {_messages(self.limits.turns_per_minute)} this minute, the most allowed"
        elif reached == 2:
            wait = until_midnight
            what = f"you have sent {_messages(self.limits.turns_per_day)} today, the most allowed per day"
        else:
            wait = until_midnight
            what = f"you have used today's {self.limits.tokens_per_day:,} model tokens"
        return RateLimitError(f"{what}; try again in {_wait(wait)}", retry_after_s=wait, hint=saved)
