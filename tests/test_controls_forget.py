"""Forgetting reaches every tier: proven by what the fake model receives on the next turn and by scanning
every Postgres table and Redis key for the forgotten marker, while an unrelated marker stays.

Markers are words no uuid or timestamp can contain (``p``, ``l``, ``u``, ``m`` are not hex digits).
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from psycopg_pool import AsyncConnectionPool
from typer.testing import CliRunner

from assistant.cli.main import app
from assistant.jobs.kinds import EXTRACT_FACTS
from assistant.pipeline.turn import TurnFinished
from assistant.providers.base import ChatMessage
from assistant.providers.embedders import HashEmbedder, QueryCache
from assistant.providers.fake import FakeChatModel, default_reply
from assistant.runtime import Runtime
from memory.conversations import Thread, User
from memory.errors import NotFoundError
from memory.long_term.forgetting import FORGOTTEN_TEXT, ForgetReport
from memory.long_term.records import MemoryRecord
from tests.store_scan import scan

MakeRuntime = Callable[..., Runtime]


def _marker(name: str) -> str:
    return f"plum{name}{uuid.uuid4().int % 10**8}"


def _extracting(messages: Sequence[ChatMessage]) -> str:
    """The fake model, which also extracts one fact per exchange and adds it (as a hosted model would)."""
    system = messages[0].content if messages else ""
    if system.startswith("You read one exchange"):
        said = next(line for line in messages[-1].content.splitlines() if line.startswith("user: "))
        fact = {"text": f"The user said {said.removeprefix('user: ')}", "stated_by": "user", "importance": 0.6}
        return json.dumps({"facts": [fact]})
    if system.startswith("You keep a list of facts"):
        return json.dumps({"action": "add", "reason": "new"})
    return default_reply(messages)


def _plain(messages: Sequence[ChatMessage]) -> str:
    """A reply that does not quote its context items (a reply that quoted a forgotten memory is a turn of its
    own, outside what forgetting that memory takes); summaries still repeat what they fold."""
    return "\n".join(line for line in default_reply(messages).splitlines() if not re.match(r"\[\d+\] ", line))


async def _talk(runtime: Runtime, thread: Thread, text: str, *, drain: bool = True) -> TurnFinished:
    events = [event async for event in runtime.pipeline.run(thread, text)]
    if drain:
        await runtime.drain()
    finished = events[-1]
    assert isinstance(finished, TurnFinished)
    return finished


async def _start(make_runtime: MakeRuntime, model: FakeChatModel, **overrides: Any) -> tuple[Runtime, User, Thread]:
    runtime = make_runtime(model, **overrides)
    user = await runtime.conversations.ensure_user("ann")
    return runtime, user, await runtime.conversations.create_thread(user.id)


def _seen(model: FakeChatModel, since: int) -> str:
    return "\n".join(m.content for request in model.received[since:] for m in request)


async def _memories_with(runtime: Runtime, user_id: uuid.UUID, marker: str) -> list[MemoryRecord]:
    everything = await runtime.memories.list_memories(user_id, include_history=True, limit=10_000)
    return [m for m in everything if marker in m.text]


class Stores:
    def __init__(self, pool: AsyncConnectionPool, redis: aioredis.Redis, prefix: str) -> None:
        self.pool, self.redis, self.prefix = pool, redis, prefix

    async def assert_gone(self, marker: str) -> None:
        residue = await scan(self.pool, self.redis, self.prefix, marker)
        assert not residue, f"{marker} still in {residue}"
        assert await self._redis_files_without(marker), f"{marker} still in Redis' files on disk"

    async def _redis_files_without(self, marker: str) -> bool:
        """Whether Redis' append-only log and snapshot no longer hold the marker, once a rewrite settles."""
        folder = Path(str((await self.redis.config_get("dir"))["dir"]))
        for _ in range(100):
            persistence = await self.redis.info("persistence")
            busy = persistence["aof_rewrite_in_progress"] or persistence["aof_rewrite_scheduled"]
            if not busy and not await asyncio.to_thread(_files_hold, folder, marker):
                return True
            await asyncio.sleep(0.05)
        return False

    async def in_statistics(self, marker: str) -> bool:
        """Whether the planner's statistics (readable by any database user) hold the marker."""
        async with self.pool.connection() as conn:
            row = await (
                await conn.execute(
                    "SELECT count(*) FROM pg_stats WHERE schemaname = 'public' AND strpos(lower(concat_ws(' ', "
                    "most_common_vals::text, histogram_bounds::text, most_common_elems::text)), lower(%s)) > 0",
                    (marker,),
                )
            ).fetchone()
        return bool(row and row[0])

    async def assert_kept(self, marker: str) -> None:
        assert (await scan(self.pool, self.redis, self.prefix, marker)).tables.get("messages")


def _files_hold(folder: Path, marker: str) -> bool:
    return any(marker.encode() in f.read_bytes() for f in folder.rglob("*") if f.is_file())


@pytest.fixture
def stores(pool: AsyncConnectionPool, redis: aioredis.Redis, redis_prefix: str) -> Stores:
    return Stores(pool, redis, redis_prefix)


async def test_forgetting_a_turn_by_id_takes_its_reply_the_facts_drawn_from_it_and_cached_queries(
    make_runtime: MakeRuntime, stores: Stores
) -> None:
    gone, kept = _marker("gone"), _marker("kept")
    model = FakeChatModel(_extracting)
    cache = QueryCache(HashEmbedder())
    runtime, user, thread = await _start(make_runtime, model, extraction="on", embedder_instance=cache)
    await _talk(runtime, thread, f"My locker code is {gone}.")
    await _talk(runtime, thread, f"My cat is called {kept}.")
    facts = [m for m in await _memories_with(runtime, user.id, gone) if m.kind == "semantic"]
    assert facts, "the fake extracted a fact from the turn"
    turn = next(m for m in await _memories_with(runtime, user.id, gone) if m.kind == "episodic" and m.role == "user")
    preview = await runtime.memories.forget_preview(user.id, [turn.id])
    assert (preview.chosen, preview.turns) == (1, 2) and preview.drawn >= 2  # the reply's memory, the fact
    assert "2 conversation turns" in preview.in_words()

    report = await runtime.memories.forget(user.id, [turn.id])

    assert report.turns == 2 and report.memories >= 3  # the turn, the reply that repeated it, the fact
    assert "Forgot" in report.in_words() and "2 conversation turns" in report.in_words()
    assert not any(gone in text for text in cache._vectors)
    messages = await runtime.conversations.messages(thread)
    assert [m.content for m in messages[:2]] == [FORGOTTEN_TEXT] * 2 and len(messages) == 4  # kept in sequence
    since = len(model.received)
    await _talk(runtime, thread, "What do you know about me?")
    assert gone not in _seen(model, since) and kept in _seen(model, since)
    await stores.assert_gone(gone)
    await stores.assert_kept(kept)
    exported = await runtime.portability.export_jsonl(user.id)
    assert gone not in exported and kept in exported


async def test_a_queued_extraction_job_about_a_forgotten_turn_is_dropped(
    make_runtime: MakeRuntime, stores: Stores
) -> None:
    gone = _marker("gone")
    model = FakeChatModel(_extracting)
    runtime, user, thread = await _start(make_runtime, model, extraction="on")
    await _talk(runtime, thread, f"My locker code is {gone}.", drain=False)
    await runtime.jobs.run(wait=False, queues=["turns"])  # episodic memory only: the extraction job waits
    await runtime.episodic.flush()
    assert [j.task for j in await runtime.jobs.rows.list(status="todo", task=EXTRACT_FACTS)] == [EXTRACT_FACTS]
    turn = next(m for m in await _memories_with(runtime, user.id, gone) if m.role == "user")

    report = await runtime.memories.forget(user.id, [turn.id])

    assert report.jobs == 1 and await runtime.jobs.rows.list(status="todo", task=EXTRACT_FACTS) == []
    since = len(model.received)
    await _talk(runtime, thread, "Anything to note?")
    assert gone not in _seen(model, since)
    await stores.assert_gone(gone)


async def test_forgetting_a_pinned_fact_takes_it_out_of_the_next_context_and_the_stored_reports(
    make_runtime: MakeRuntime, stores: Stores
) -> None:
    gone, kept = _marker("gone"), _marker("kept")
    model = FakeChatModel(_plain)
    runtime, user, thread = await _start(make_runtime, model)
    fact = await runtime.memories.remember(user.id, f"My wifi password is {gone}.")
    await runtime.memories.remember(user.id, f"I prefer answers about {kept}.")
    finished = await _talk(runtime, thread, "Hello there.")
    assert gone in model.received[-1][0].content  # pinned: it was in the context

    report = await runtime.memories.forget(user.id, [fact.id])

    assert report.memories == 1 and report.reports == 1 and report.turns == 0
    stored = await runtime.reports.for_message(user.id, finished.reply.id)
    assert stored is not None and FORGOTTEN_TEXT in json.dumps(stored)
    since = len(model.received)
    await _talk(runtime, thread, "What should you keep in mind?")
    assert gone not in _seen(model, since) and kept in _seen(model, since)
    await stores.assert_gone(gone)
    assert (await scan(stores.pool, stores.redis, stores.prefix, kept)).tables.get("memories")


async def test_forgetting_the_memories_a_query_selects_reaches_the_reports_of_other_conversations(
    make_runtime: MakeRuntime, stores: Stores
) -> None:
    gone, kept = _marker("gone"), _marker("kept")
    model = FakeChatModel()  # echoes its context items: the reply that recalled the marker holds it too
    runtime, user, first = await _start(make_runtime, model)
    second = await runtime.conversations.create_thread(user.id)
    await runtime.conversations.rename_thread(user.id, first.id, f"The locker code is {gone}")  # as the browser does
    await _talk(runtime, first, f"The locker code is {gone}.")
    await _talk(runtime, second, f"The garden gnome is called {kept}.")
    recalled = await _talk(runtime, second, f"What is the locker code {gone}?")
    assert any(gone in item.text for item in recalled.report.tier("long_term").items)

    # What `/forget` or `memory forget --query` would select: every memory that holds the words.
    selected = [m.id for m in await _memories_with(runtime, user.id, gone)]
    assert len(selected) >= 4
    report = await runtime.memories.forget(user.id, selected)

    assert report.memories == len(selected) and report.turns == len(selected)
    stored = await runtime.reports.for_message(user.id, recalled.reply.id)
    assert stored is None  # the reply that quoted it was forgotten, and its report with it
    since = len(model.received)
    await _talk(runtime, second, "Tell me about the garden.")
    await _talk(runtime, first, "Anything else?")
    assert gone not in _seen(model, since) and kept in _seen(model, since)
    await stores.assert_gone(gone)
    await stores.assert_kept(kept)


async def test_a_rolling_summary_written_from_a_forgotten_turn_is_dropped_and_written_again(
    make_runtime: MakeRuntime, stores: Stores
) -> None:
    gone, kept = _marker("gone"), _marker("kept")
    model = FakeChatModel(_plain)
    runtime, user, thread = await _start(make_runtime, model, short_term_turns=4, summary_batch=2)
    await _talk(runtime, thread, f"My passport number is {gone}.")
    await _talk(runtime, thread, f"My neighbour is {kept}.")
    for turn in range(3):
        await _talk(runtime, thread, f"Small talk number {turn}.")
    summary = await runtime.short_term.summaries.get(thread)
    assert summary is not None and gone in summary.content and kept in summary.content
    turn_memory = next(m for m in await _memories_with(runtime, user.id, gone) if m.role == "user")

    report = await runtime.memories.forget(user.id, [turn_memory.id])

    assert report.summaries == 1 and report.redis_keys >= 1
    assert await runtime.short_term.summaries.get(thread) is None
    since = len(model.received)
    for turn in range(2):
        await _talk(runtime, thread, f"More small talk {turn}.")
    rewritten = await runtime.short_term.summaries.get(thread)
    assert rewritten is not None and kept in rewritten.content and gone not in rewritten.content
    assert gone not in _seen(model, since)
    await stores.assert_gone(gone)


async def test_forget_all_leaves_the_threads_readable_but_empty_of_what_was_said(
    make_runtime: MakeRuntime, stores: Stores
) -> None:
    gone, kept = _marker("gone"), _marker("kept")
    model = FakeChatModel()
    runtime = make_runtime(model, short_term_turns=4, summary_batch=2)
    ann = await runtime.conversations.ensure_user("ann")
    bob = await runtime.conversations.ensure_user("bob")
    thread = await runtime.conversations.create_thread(ann.id)
    bobs = await runtime.conversations.create_thread(bob.id)
    await runtime.memories.remember(ann.id, f"Pinned: {gone}.")
    await runtime.conversations.rename_thread(ann.id, thread.id, f"Turn 0 about {gone}…")  # as the browser does
    for turn in range(4):
        await _talk(runtime, thread, f"Turn {turn} about {gone}.")
    await _talk(runtime, bobs, f"Bob's note: {kept}.")
    async with stores.pool.connection() as conn:
        await conn.execute("ANALYZE")
    assert await stores.in_statistics(gone)

    report = await runtime.memories.forget_all(ann.id)

    assert report.memories > 0 and report.turns == 8 and report.summaries == 1 and report.reports == 4
    since = len(model.received)
    await _talk(runtime, thread, "Where were we?")
    assert gone not in _seen(model, since)
    messages = await runtime.conversations.messages(thread)
    assert [m.content for m in messages[:8]] == [FORGOTTEN_TEXT] * 8
    assert not await stores.in_statistics(gone)
    await stores.assert_gone(gone)
    await stores.assert_kept(kept)


@pytest.mark.parametrize("forget_memories", [True, False], ids=["with its memories", "keeping its facts"])
async def test_deleting_a_conversation_takes_its_turns_from_what_other_conversations_recalled(
    make_runtime: MakeRuntime, stores: Stores, forget_memories: bool
) -> None:
    gone, kept = _marker("gone"), _marker("kept")
    model = FakeChatModel(_plain)
    runtime, user, doomed = await _start(make_runtime, model)
    other = await runtime.conversations.create_thread(user.id)
    await _talk(runtime, doomed, f"The alarm code is {gone}.")
    said = (await runtime.conversations.messages(doomed))[0]
    fact = await runtime.memories.remember(user.id, "The user has an alarm.", pinned=False, sources=[said.id])
    await _talk(runtime, other, f"The boat is called {kept}.")
    recalled = await _talk(runtime, other, "What is the alarm code?")
    assert any(gone in item.text for item in recalled.report.tier("long_term").items)

    report = await runtime.memories.delete_thread(user.id, doomed.id, forget_memories=forget_memories)

    assert report.threads == 1 and report.reports >= 2  # its own reply's, and those that recalled it
    facts = [m.id for m in await runtime.memories.list_memories(user.id, kinds=("semantic",))]
    assert facts == ([] if forget_memories else [fact.id])
    since = len(model.received)
    await _talk(runtime, other, "And the boat?")
    assert gone not in _seen(model, since) and kept in _seen(model, since)
    await stores.assert_gone(gone)
    await stores.assert_kept(kept)


async def test_users_rm_leaves_nothing_of_the_user_in_any_table_or_key(
    make_runtime: MakeRuntime, stores: Stores, store_env: None
) -> None:
    gone, kept = _marker("gone"), _marker("kept")
    model = FakeChatModel(_extracting)
    runtime = make_runtime(model, extraction="on", short_term_turns=4, summary_batch=2)
    name = _marker("user")
    user = await runtime.conversations.ensure_user(name)
    bob = await runtime.conversations.ensure_user("bob")
    thread = await runtime.conversations.create_thread(user.id)
    await runtime.memories.remember(user.id, f"Pinned: {gone}.")
    await _talk(runtime, await runtime.conversations.create_thread(bob.id), f"Bob: {kept}.")
    for turn in range(3):
        await _talk(runtime, thread, f"Turn {turn}: {gone}.")
    await _talk(runtime, thread, f"One more: {gone}.", drain=False)  # its extraction job is still queued
    await runtime.background.drain()
    await runtime.episodic.flush()

    result = await asyncio.to_thread(CliRunner().invoke, app, ["users", "rm", name, "--yes", "--json"])

    assert result.exit_code == 0, result.output
    erased: dict[str, Any] = json.loads(result.stdout)
    assert erased["erased"] is True and erased["threads"] == 1
    for trace in (gone, name, str(user.id)):
        await stores.assert_gone(trace)
    await stores.assert_kept(kept)


async def test_forgetting_a_long_conversation_in_one_go(make_runtime: MakeRuntime, stores: Stores) -> None:
    gone = _marker("gone")
    runtime, user, thread = await _start(make_runtime, FakeChatModel())
    async with stores.pool.connection() as conn:
        await conn.execute(
            """INSERT INTO messages (thread_id, user_id, role, content)
               SELECT %s, %s, CASE WHEN n %% 2 = 0 THEN 'user' ELSE 'assistant' END, 'line ' || n || ' ' || %s
               FROM generate_series(0, 2999) AS n""",
            (thread.id, user.id, gone),
        )
    assert await runtime.episodic.backfill(user_id=user.id) == 3000
    await _talk(runtime, thread, "Still there?")

    report = await runtime.memories.forget_from_thread(user.id, thread.id)

    assert report.turns == 3002 and report.memories == 3002
    await stores.assert_gone(gone)


async def test_two_forgettings_of_the_same_turns_at_once_both_finish(make_runtime: MakeRuntime, stores: Stores) -> None:
    gone = _marker("gone")
    runtime, user, thread = await _start(make_runtime, FakeChatModel())
    for turn in range(5):
        await _talk(runtime, thread, f"Turn {turn}: {gone}.")
    both = await _memories_with(runtime, user.id, gone)
    users_turns = [m.id for m in both if m.role == "user"]
    replies = [m.id for m in both if m.role == "assistant"]

    outcomes = await asyncio.gather(
        runtime.memories.forget(user.id, users_turns),
        runtime.memories.forget(user.id, list(reversed(replies))),
        return_exceptions=True,
    )

    # Either both take part of the turns, or the second finds its memories already gone: never a collision.
    reports = [o for o in outcomes if isinstance(o, ForgetReport)]
    assert all(isinstance(o, ForgetReport | NotFoundError) for o in outcomes) and reports
    assert sum(r.turns for r in reports) == 10
    await stores.assert_gone(gone)


async def test_the_cli_says_what_goes_before_and_what_went_after(
    make_runtime: MakeRuntime, stores: Stores, store_env: None
) -> None:
    gone = _marker("gone")
    runtime, user, thread = await _start(make_runtime, FakeChatModel())
    await _talk(runtime, thread, f"My locker code is {gone}.")
    turn = next(m for m in await _memories_with(runtime, user.id, gone) if m.role == "user")

    result = await asyncio.to_thread(
        CliRunner().invoke, app, ["memory", "forget", str(turn.id)[:8], "-u", "ann", "--yes"]
    )

    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "With them go 2 conversation turns they record or came from" in said
    assert "Forgot 2 memories, 2 conversation turns" in said
    await stores.assert_gone(gone)
