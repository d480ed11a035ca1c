"""Short-term memory: each thread's recent turns and rolling summary, cached in Redis.

Redis is a cache here. Postgres holds every message and the summary; when a
thread's keys are gone (restart, eviction, idle TTL) the next access rebuilds
them from Postgres, so the only visible difference is latency.

A window must also vouch for what it holds: a Redis restored from its append-only
file may have lost its last second of writes, and a message stored while Redis
was down was never added. Each load reads, beside the window, which turns
Postgres says it should hold (one indexed query of seqs); on any difference the
window is rebuilt. While Redis is unreachable the window is read from Postgres and
a turn goes on without it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import redis.asyncio as aioredis

from memory.conversations import ConversationStore, Message, Thread
from memory.errors import StoreError
from memory.short_term.cluster import per_master
from memory.short_term.connection import KeySpace, RedisClient
from memory.short_term.summaries import Summary, SummaryStore

# After a reply that was stopped or broke off, so no model takes it for a finished answer.
UNFINISHED = "\n\n[This reply was interrupted before it was finished.]"

log = logging.getLogger("memory.short_term")

# Add a turn to a built window unless the window already ends at it or past it (a command sent again after a
# dropped connection, or a turn a rebuild just read from Postgres). KEYS: window, summary, state; ARGV: turn JSON,
# its seq, turns kept, TTL. Returns 0 when the window is not built (the caller rebuilds it), else 1.
_RECORD = """
if not redis.call('HGET', KEYS[3], 'built') then return 0 end
local last = redis.call('LINDEX', KEYS[1], -1)
if not last or tonumber(cjson.decode(last)['seq']) < tonumber(ARGV[2]) then
  redis.call('RPUSH', KEYS[1], ARGV[1])
  redis.call('LTRIM', KEYS[1], -tonumber(ARGV[3]), -1)
end
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[4]) end
return 1
"""

# The summary swap, in one step: store the summary and drop the turns it now covers, keeping any turn recorded
# meanwhile. KEYS: window, summary, state (one thread's, so one hash slot); ARGV: summary JSON, covered seq, TTL.
# A window that is not built is left alone: its next load rebuilds it from Postgres, summary included.
_SWAP_SUMMARY = """
if not redis.call('HGET', KEYS[3], 'built') then return -1 end
local covered = tonumber(ARGV[2])
local kept = {}
for _, raw in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  if tonumber(cjson.decode(raw)['seq']) > covered then kept[#kept + 1] = raw end
end
redis.call('DEL', KEYS[1])
for i = 1, #kept, 100 do
  redis.call('RPUSH', KEYS[1], unpack(kept, i, math.min(i + 99, #kept)))
end
redis.call('SET', KEYS[2], ARGV[1])
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[3]) end
return #kept
"""


@dataclass(frozen=True)
class Turn:
    message_id: uuid.UUID
    seq: int
    role: str
    content: str
    speaker: str | None
    created_at: datetime
    forgotten: bool = False  # its text was forgotten: kept for the count, never shown to the model
    partial: bool = False  # a reply that was stopped or broke off: shown to the model marked as unfinished

    @property
    def for_model(self) -> str:
        """The text as a model reads it: a partial reply says it was not finished."""
        return self.content + UNFINISHED if self.partial else self.content

    @classmethod
    def of(cls, message: Message) -> Turn:
        return cls(
            message.id,
            message.seq,
            message.role,
            message.content,
            message.speaker,
            message.created_at,
            message.status == "forgotten",
            message.status == "partial",
        )

    def to_json(self) -> str:
        data = asdict(self) | {"message_id": str(self.message_id), "created_at": self.created_at.isoformat()}
        return json.dumps(data, ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str) -> Turn:
        data = json.loads(raw)
        return cls(
            uuid.UUID(data["message_id"]),
            int(data["seq"]),
            data["role"],
            data["content"],
            data["speaker"],
            datetime.fromisoformat(data["created_at"]),
            bool(data.get("forgotten", False)),
            bool(data.get("partial", False)),
        )


@dataclass(frozen=True)
class ShortTermState:
    turns: list[Turn]
    summary: Summary | None
    rebuilt: bool


def _summary_json(summary: Summary) -> str:
    return json.dumps(
        {"content": summary.content, "covers_through_seq": summary.covers_through_seq, "model": summary.model}
    )


class ShortTermMemory:
    def __init__(
        self,
        redis: RedisClient,
        keys: KeySpace,
        conversations: ConversationStore,
        summaries: SummaryStore,
        *,
        window_turns: int = 12,
        backlog_turns: int = 0,
        ttl_s: int = 7 * 24 * 3600,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.conversations = conversations
        self.summaries = summaries
        self.window_turns = window_turns
        # Turns kept past the window, not yet in the summary: the summarizer learns from Redis alone whether
        # enough have left the window to fold, and reads them there (every turn would ask Postgres).
        self.backlog_turns = backlog_turns
        self.ttl_s = ttl_s

    @property
    def _kept(self) -> int:
        return self.window_turns + self.backlog_turns

    def _key(self, thread: Thread, part: str) -> str:
        return self.keys.thread(thread.user_id, thread.id, part)

    def _all_keys(self, thread: Thread) -> list[str]:
        return [self._key(thread, part) for part in ("window", "summary", "state")]

    async def load(self, thread: Thread) -> ShortTermState:
        """The thread's window and summary, rebuilt from Postgres when Redis lost them."""
        state = await self._load_kept(thread)
        remembered = [t for t in state.turns if not t.forgotten]
        turns = remembered[-self.window_turns :] if self.window_turns else []
        return ShortTermState(turns, state.summary, state.rebuilt)

    async def unsummarized(self, thread: Thread) -> int | None:
        """Turns after the summary, counted up to ``window_turns + backlog_turns``; None when Redis lost them."""
        window_key, _, state_key = self._all_keys(thread)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hget(state_key, "built")
            pipe.llen(window_key)
            built, length = await pipe.execute()
        return int(length) if built else None

    async def after_summary(self, thread: Thread) -> tuple[Summary | None, list[Turn] | None]:
        """The summary and every turn after it, from Redis; the turns are None when Redis does not hold all of
        them (more than ``window_turns + backlog_turns``, the summarizer having fallen behind)."""
        state = await self._load_kept(thread)
        return state.summary, state.turns if len(state.turns) < self._kept else None

    async def _load_kept(self, thread: Thread) -> ShortTermState:
        window_key, summary_key, state_key = self._all_keys(thread)

        async def cached() -> list[object]:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hget(state_key, "built")
                pipe.lrange(window_key, 0, -1)
                pipe.get(summary_key)
                for key in (window_key, summary_key, state_key):
                    pipe.expire(key, self.ttl_s)
                return list(await pipe.execute())

        # Side by side: the window from Redis, and what Postgres says it should hold.
        from_redis, expected = await asyncio.gather(
            cached(), self.conversations.window_marks(thread, last=self._kept), return_exceptions=True
        )
        if isinstance(expected, BaseException):
            raise expected
        if isinstance(from_redis, StoreError):
            log.warning("short-term window of thread %s read from Postgres: %s", thread.id, from_redis)
            return await self.rebuild(thread, cache=False)
        if isinstance(from_redis, BaseException):
            raise from_redis
        built, raw_turns, raw_summary, *_ = from_redis
        if not built:
            return await self.rebuild(thread)
        summary = None
        if raw_summary:
            data = json.loads(str(raw_summary))
            summary = Summary(data["content"], int(data["covers_through_seq"]), data.get("model"))
        turns = [Turn.from_json(raw) for raw in raw_turns]  # type: ignore[attr-defined]
        marks, stored_covers = expected
        covered = summary.covers_through_seq if summary else None
        held = [(t.seq, t.forgotten) for t in turns]
        if covered != stored_covers or held != [mark for mark in marks if mark[0] > (covered or 0)]:
            log.info("short-term window of thread %s differs from Postgres: rebuilt", thread.id)
            return await self.rebuild(thread)
        return ShortTermState(turns, summary, rebuilt=False)

    async def rebuild(self, thread: Thread, *, cache: bool = True) -> ShortTermState:
        """The window from Postgres, cached in Redis (with ``cache``, and when Redis answers)."""
        summary = await self.summaries.get(thread)
        after = summary.covers_through_seq if summary else None
        messages = await self.conversations.window_turns(thread, last=self._kept, after_seq=after)
        turns = [Turn.of(m) for m in messages]
        if not cache:
            return ShortTermState(turns, summary, rebuilt=True)
        window_key, summary_key, state_key = self._all_keys(thread)
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.delete(window_key, summary_key)
                if turns:
                    pipe.rpush(window_key, *[t.to_json() for t in turns])
                if summary:
                    pipe.set(summary_key, _summary_json(summary))
                pipe.hset(state_key, "built", "1")
                for key in (window_key, summary_key, state_key):
                    pipe.expire(key, self.ttl_s)
                await pipe.execute()
        except StoreError as exc:  # the turn goes on from Postgres; the next load tries Redis again
            log.warning("short-term window of thread %s not cached: %s", thread.id, exc)
        return ShortTermState(turns, summary, rebuilt=True)

    async def record(self, thread: Thread, message: Message) -> None:
        """Add a message that is already durable in Postgres to the window. A Redis fault is logged, not raised:
        Postgres has the message, and the next load, finding the window short of it, rebuilds the window."""
        if message.private or message.role == "system":
            return  # a private message and its reply are answered once, then never seen again
        try:
            built = await self.redis.eval(
                _RECORD, 3, *self._all_keys(thread), Turn.of(message).to_json(), message.seq, self._kept, self.ttl_s
            )
        except StoreError as exc:
            log.warning("message %s not added to the short-term window: %s", message.id, exc)
            return
        if not built:
            await self.rebuild(thread)  # Redis had lost the thread: the rebuild reads the message from Postgres

    async def save_summary(
        self, thread: Thread, summary: Summary, sources: Sequence[uuid.UUID] = (), extends: int | None = None
    ) -> Summary | None:
        """Store a summary in Postgres, then in Redis, dropping turns it now covers from the window in one step
        (a turn recorded at the same moment is kept); None when what it was written from was forgotten
        meanwhile (see ``SummaryStore.put``)."""
        stored = await self.summaries.put(thread, summary, sources, extends)
        if stored is None:
            return None
        await self.redis.eval(
            _SWAP_SUMMARY, 3, *self._all_keys(thread), _summary_json(stored), stored.covers_through_seq, self.ttl_s
        )
        return stored

    async def forget(self, thread: Thread) -> None:
        await self.redis.delete(*self._all_keys(thread))

    async def forget_threads(self, user_id: uuid.UUID, thread_ids: Iterable[uuid.UUID]) -> int:
        """Drop these threads' keys (each rebuilds from Postgres on next use); returns how many there were."""
        keys = [self.keys.thread(user_id, t, part) for t in thread_ids for part in ("window", "summary", "state")]
        return int(await self.redis.delete(*keys)) if keys else 0

    async def rewrite_files(self, *, patience_s: float = 2.0) -> None:
        """Have Redis rewrite its files on disk (append-only log, snapshot) so deleted keys leave them too.

        Best effort: a server without persistence, or one that refuses the commands, is left as it is. A
        rewrite already running started before the deletion, so this waits for it and asks again. On a cluster
        every master rewrites its own files.
        """
        await asyncio.gather(*(self._rewrite(target, patience_s) for target in per_master(self.redis)))

    async def _rewrite(self, target: dict[str, Any], patience_s: float) -> None:
        redis = self.redis
        try:
            aof = bool((await redis.info("persistence", **target)).get("aof_enabled"))
        except (aioredis.RedisError, StoreError):
            return
        try:
            snapshots = bool((await redis.config_get("save", **target)).get("save"))
        except (aioredis.RedisError, StoreError):  # CONFIG may be refused (managed Redis): leave its snapshots to it
            snapshots = False
        if aof:
            await self._retrying(lambda: redis.bgrewriteaof(**target), patience_s)
        if snapshots:
            await self._retrying(lambda: redis.bgsave(schedule=True, **target), patience_s)

    @staticmethod
    async def _retrying(command: Callable[[], Awaitable[object]], patience_s: float) -> None:
        deadline = time.monotonic() + patience_s
        while True:
            try:
                await command()
                return
            except aioredis.ResponseError:  # one is already running (it started before the deletion)
                if time.monotonic() > deadline:
                    return
                await asyncio.sleep(0.05)
            except (aioredis.RedisError, StoreError):
                return

    async def forget_user(self, user_id: uuid.UUID) -> int:
        """Delete every short-term key of the user; returns how many there were."""
        keys = [key async for key in self.redis.scan_iter(match=self.keys.user_pattern(user_id), count=500)]
        if keys:
            await self.redis.delete(*keys)
        return len(keys)
