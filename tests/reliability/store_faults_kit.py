"""Embedded servers of a test's own, faults injected into them, and the checks made after every fault."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from assistant.embedded import manager
from assistant.embedded.paths import ServicePaths, read_pid
from assistant.embedded.postgres import EmbeddedPostgres
from assistant.embedded.redis import EmbeddedRedis
from assistant.pipeline.turn import TurnEvent, TurnFinished, TurnStarted
from assistant.providers.base import ChatMessage
from assistant.providers.embedders import HashEmbedder
from assistant.providers.fake import FakeChatModel
from assistant.runtime import Runtime
from assistant.settings import Settings
from memory.conversations import Thread
from memory.db.migrations import migrate
from memory.db.pool import open_pool
from memory.errors import StoreError
from memory.short_term.connection import open_redis

# What the fault tests injected and checked, summed over the run (docs/reliability.md quotes the totals).
TALLY: Counter[str] = Counter()


@dataclass
class Servers:
    """A Postgres and a Redis in a data directory of the test's own, which the test may stop, kill and start."""

    settings: Settings
    endpoints: manager.Endpoints

    @property
    def paths(self) -> ServicePaths:
        return ServicePaths(self.settings.data_dir)

    def stop_postgres(self) -> None:
        TALLY["faults"] += 1
        assert EmbeddedPostgres(self.paths).stop()

    def start_postgres(self) -> None:
        with self.paths.lock():
            EmbeddedPostgres(self.paths).start()

    def restart_postgres(self) -> None:
        self.stop_postgres()
        self.start_postgres()

    def kill_redis(self) -> None:
        """``kill -9`` of the server: it writes nothing more, and comes back from its append-only file."""
        TALLY["faults"] += 1
        pid = read_pid(self.paths.redis_pidfile)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        psutil.Process(pid).wait(timeout=10)

    def start_redis(self) -> None:
        with self.paths.lock():
            EmbeddedRedis(self.paths).start()

    def redis_files(self) -> Path:
        return self.paths.redis_data


@asynccontextmanager
async def own_servers(server_dir: Path) -> AsyncIterator[Servers]:
    settings = Settings(data_dir=server_dir / "data", model="fake", embedder="hash", redis_prefix="faults")
    endpoints = await asyncio.to_thread(manager.ensure_running, settings)
    await migrate(endpoints.database_url)
    servers = Servers(settings, endpoints)
    try:
        yield servers
    finally:
        await asyncio.to_thread(servers.start_postgres)  # whatever a test left down, so that it can be stopped
        await asyncio.to_thread(servers.start_redis)
        await asyncio.to_thread(manager.stop, settings)


class Scripted(FakeChatModel):
    """The fake model, replying ``reply-<n>`` and running the test's fault (if any) while a turn is under way."""

    def __init__(self) -> None:
        super().__init__(self._reply, context_window=16384)
        self.during: Callable[[], None] | None = None
        self.replies = 0

    def _reply(self, messages: Sequence[ChatMessage]) -> str:
        if self.during is not None:
            fault, self.during = self.during, None
            fault()
        self.replies += 1
        return f"reply-{uuid.uuid4().hex[:12]}"


@asynccontextmanager
async def chat_runtime(servers: Servers, model: FakeChatModel) -> AsyncIterator[Runtime]:
    """The runtime `assistant chat` starts, on the test's servers (the window holds the whole conversation)."""
    config = servers.settings.model_copy(update={"short_term_turns": 60, "summary_batch": 50})
    pool = await open_pool(servers.endpoints.database_url, max_size=4)
    redis = await open_redis(servers.endpoints.redis_url)
    runtime = Runtime.assemble(config, servers.endpoints, pool, redis, model, HashEmbedder())
    try:
        yield runtime
    finally:
        await runtime.close()


@dataclass
class Conversation:
    """One thread's turns, keeping what was acknowledged: a user message whose turn started (or whose error
    said it was saved), and a reply whose turn finished."""

    runtime: Runtime
    thread: Thread
    model: FakeChatModel
    acknowledged: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def turn(self) -> bool:
        """One turn; True when it finished. Only a ``StoreError`` may escape the pipeline."""
        text = f"msg-{uuid.uuid4().hex[:12]}"
        events: list[TurnEvent] = []
        try:
            async for event in self.runtime.pipeline.run(self.thread, text):
                events.append(event)
        except StoreError as exc:
            self.errors.append(str(exc))
            assert "unreachable" in exc.message
            if "your message was saved" in exc.message:
                self.acknowledged.append(text)
            else:
                assert "your message was not saved" in exc.message
            return False
        assert isinstance(events[0], TurnStarted) and isinstance(events[-1], TurnFinished)
        self.acknowledged += [text, events[-1].reply.content]
        return True

    async def check_next_turn(self) -> None:
        """The next turn works, and every message acknowledged so far is in Postgres and in the context the
        model received, exactly once each."""
        before = list(self.acknowledged)
        assert await self.turn(), self.errors[-1:]
        stored = [m.content for m in await self.runtime.conversations.messages(self.thread)]
        received = [m.content for m in self.model.received[-1]]
        for text in before:
            assert stored.count(text) == 1, (text, stored)
            assert sum(content.count(text) for content in received) == 1, (text, received)
        TALLY["messages checked"] += len(before)

    async def check_episodic(self) -> None:
        """Every acknowledged message has its episodic memory, once (a backfill gave it any that a fault missed)."""
        await self.runtime.drain()
        async with self.runtime.pool.connection() as conn:
            rows = await (
                await conn.execute(
                    "SELECT m.content, count(e.id) FROM messages m LEFT JOIN memories e"
                    " ON e.message_id = m.id AND e.kind = 'episodic' WHERE m.thread_id = %s GROUP BY m.content",
                    (self.thread.id,),
                )
            ).fetchall()
        counts = {content: int(n) for content, n in rows}
        assert {text: counts.get(text) for text in self.acknowledged} == dict.fromkeys(self.acknowledged, 1)
