"""Long-term memory through the real stores: recall across threads, pinning, versions, undo, forgetting."""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
from psycopg_pool import AsyncConnectionPool

from assistant.pipeline.turn import TurnFinished
from assistant.providers.embedders import HashEmbedder, QueryCache
from assistant.providers.fake import FakeChatModel
from assistant.runtime import Runtime
from memory.conversations import Thread
from memory.errors import ConfigError, InvalidInputError, NotFoundError
from memory.long_term.episodic import EpisodicWriter
from memory.long_term.reembed import reembed_all

MakeRuntime = Callable[..., Runtime]


async def _talk(runtime: Runtime, thread: Thread, text: str) -> TurnFinished:
    events = [event async for event in runtime.pipeline.run(thread, text)]
    await runtime.drain()
    finished = events[-1]
    assert isinstance(finished, TurnFinished)
    return finished


async def _user_and_thread(runtime: Runtime, name: str = "ann") -> tuple[uuid.UUID, Thread]:
    user = await runtime.conversations.ensure_user(name)
    return user.id, await runtime.conversations.create_thread(user.id)


async def test_a_fact_told_in_one_thread_is_recalled_in_a_new_one(make_runtime: MakeRuntime) -> None:
    model = FakeChatModel()
    runtime = make_runtime(model)
    user_id, first = await _user_and_thread(runtime)
    await _talk(runtime, first, "My sister Ingrid lives in Tromsø and keeps bees.")
    second = await runtime.conversations.create_thread(user_id)
    finished = await _talk(runtime, second, "Where does Ingrid live?")
    system = model.received[-1][0].content
    assert "Memories from past conversations" in system and "Ingrid lives in Tromsø" in system
    recalled = finished.report.tier("long_term").items
    assert recalled[0].thread_id == first.id and recalled[0].message_ids  # provenance to the turn
    assert "Ingrid lives in Tromsø" in finished.reply.content  # the fake echoes what it was given


async def test_pinned_memories_are_always_in_context(make_runtime: MakeRuntime) -> None:
    model = FakeChatModel()
    runtime = make_runtime(model)
    user_id, thread = await _user_and_thread(runtime)
    pinned = await runtime.memories.remember(user_id, "Always answer in metric units.")
    await _talk(runtime, thread, "How tall is the Eiffel tower?")
    system = model.received[-1][0].content
    assert "What the user asked you to remember" in system and "Always answer in metric units." in system
    assert [m.id for m in await runtime.memories.pinned(user_id)] == [pinned.id]


async def test_an_edit_keeps_the_old_version_and_can_be_undone(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime(FakeChatModel())
    user_id, _ = await _user_and_thread(runtime)
    service = runtime.memories
    old = await service.remember(user_id, "I live in Berlin.")
    new = await service.edit(user_id, old.id, "I live in Lisbon.")
    detail = await service.show(user_id, new.id)
    assert [v.text for v in detail.versions] == ["I live in Lisbon.", "I live in Berlin."]
    assert detail.versions[1].valid_to is not None and new.previous_id == old.id
    assert [m.text for m in await service.list_memories(user_id)] == ["I live in Lisbon."]
    before_edit = datetime.now(UTC) - timedelta(milliseconds=1)
    history = await service.list_memories(user_id, include_history=True)
    assert {m.text for m in history} == {"I live in Berlin.", "I live in Lisbon."}
    update = next(e for e in await service.store.events(user_id) if e.action == "update")
    await service.undo(user_id, update.id)
    assert [m.text for m in await service.list_memories(user_id)] == ["I live in Berlin."]
    assert before_edit  # the as-of view is covered below
    with pytest.raises(InvalidInputError, match="already undone"):
        await service.undo(user_id, update.id)


async def test_what_was_known_at_a_given_time(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime(FakeChatModel())
    user_id, _ = await _user_and_thread(runtime)
    old = await runtime.memories.remember(user_id, "Favourite tea: oolong.")
    moment = datetime.now(UTC)
    await runtime.memories.edit(user_id, old.id, "Favourite tea: sencha.")
    assert [m.text for m in await runtime.memories.list_memories(user_id, as_of=moment)] == ["Favourite tea: oolong."]


async def test_a_contradicted_fact_stops_being_current_and_undo_restores_it(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime(FakeChatModel())
    user_id, _ = await _user_and_thread(runtime)
    fact = await runtime.memories.remember(user_id, "Owns a red bicycle.", pinned=False)
    await runtime.memories.invalidate(user_id, fact.id, reason="user said they sold it")
    assert await runtime.memories.list_memories(user_id) == []
    event = next(e for e in await runtime.memories.store.events(user_id) if e.action == "invalidate")
    await runtime.memories.undo(user_id, event.id)
    assert [m.id for m in await runtime.memories.list_memories(user_id)] == [fact.id]


async def test_forgetting_is_final_and_is_not_undone_by_a_backfill(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime(FakeChatModel())
    user_id, thread = await _user_and_thread(runtime)
    await _talk(runtime, thread, "My locker code is 4417.")
    hits = await runtime.memories.search(user_id, "locker code")
    target = next(h.memory for h in hits if "4417" in h.memory.text and h.memory.role == "user")
    await runtime.memories.forget(user_id, [target.id])
    assert all(
        "4417" not in h.memory.text or h.memory.role == "assistant"
        for h in await runtime.memories.search(user_id, "locker code")
    )
    assert await runtime.episodic.backfill(user_id=user_id) == 0
    events = [e for e in await runtime.memories.store.events(user_id) if e.memory_id == target.id]
    assert {e.action for e in events} >= {"forget"} and all(e.before is None and e.after is None for e in events)
    forget = next(e for e in events if e.action == "forget")
    with pytest.raises(InvalidInputError, match="final"):
        await runtime.memories.undo(user_id, forget.id)


async def _rows_mentioning(pool: AsyncConnectionPool, marker: str) -> list[str]:
    found = []
    async with pool.connection() as conn:
        tables = await (await conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).fetchall()
        for (table,) in tables:
            row = await (
                await conn.execute(f'SELECT count(*) FROM "{table}" t WHERE t::text LIKE %s', (f"%{marker}%",))
            ).fetchone()
            if row and row[0]:
                found.append(str(table))
    return found


async def _keys_mentioning(redis: aioredis.Redis, prefix: str, marker: str) -> list[str]:
    found = []
    async for key in redis.scan_iter(f"{prefix}:*"):
        kind = await redis.type(key)
        values: list[Any]
        if kind == "string":
            values = [await redis.get(key)]
        elif kind == "list":
            values = await redis.lrange(key, 0, -1)
        elif kind == "hash":
            values = list((await redis.hgetall(key)).values())
        else:
            values = []
        if any(marker in str(v) for v in values):
            found.append(key)
    return found


async def test_forget_all_and_erasing_the_user_leave_nothing_behind(
    make_runtime: MakeRuntime, pool: AsyncConnectionPool, redis: aioredis.Redis, redis_prefix: str
) -> None:
    marker = "zebracorn"
    runtime = make_runtime(FakeChatModel(), short_term_turns=4, summary_batch=2)
    user_id, thread = await _user_and_thread(runtime)
    await runtime.memories.remember(user_id, f"My password hint is {marker}.")
    for turn in range(6):
        await _talk(runtime, thread, f"Turn {turn} about the {marker} in my garden.")
    assert await runtime.short_term.summaries.get(thread) is not None
    assert await _rows_mentioning(pool, marker) and await _keys_mentioning(redis, redis_prefix, marker)

    report = await runtime.memories.forget_all(user_id)
    assert report.memories > 0 and report.summaries == 1 and report.reports > 0 and report.turns == 12
    assert await _rows_mentioning(pool, marker) == []  # the threads stay, their turns reading "(forgotten)"
    assert await _keys_mentioning(redis, redis_prefix, marker) == []
    assert await runtime.episodic.backfill(user_id=user_id) == 0  # and they are not re-remembered

    await runtime.conversations.delete_user(user_id)
    await runtime.short_term.forget_user(user_id)
    assert await _rows_mentioning(pool, marker) == []
    assert await _keys_mentioning(redis, redis_prefix, marker) == []


async def test_one_user_cannot_reach_another_users_memories(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime(FakeChatModel())
    ann, ann_thread = await _user_and_thread(runtime, "ann")
    eve, _ = await _user_and_thread(runtime, "eve")
    await _talk(runtime, ann_thread, "The safe combination is 31-07-99.")
    secret = await runtime.memories.remember(ann, "Ann's doctor is Dr. Okafor.")
    service = runtime.memories
    assert all(h.memory.user_id == eve for h in await service.search(eve, "safe combination doctor"))
    assert await service.list_memories(eve) == []
    for attempt in (
        service.show(eve, secret.id),
        service.edit(eve, secret.id, "hijacked"),
        service.set_pinned(eve, secret.id, False),
        service.forget(eve, [secret.id]),
    ):
        with pytest.raises(NotFoundError):
            await attempt
    add_event = next(e for e in await service.store.events(ann) if e.action == "add")
    with pytest.raises(NotFoundError):
        await service.undo(eve, add_event.id)
    assert (await service.show(ann, secret.id)).memory.text == "Ann's doctor is Dr. Okafor."


@pytest.mark.parametrize("text", ["Мой кот любит рыбу 🐟", "我的猫喜欢鱼", "قطتي تحب السمك", "tab\tand\x07bell"])
async def test_any_script_is_stored_and_found(make_runtime: MakeRuntime, text: str) -> None:
    runtime = make_runtime(FakeChatModel())
    user_id, _ = await _user_and_thread(runtime)
    stored = await runtime.memories.remember(user_id, text)
    hits = await runtime.memories.search(user_id, text)
    assert hits and hits[0].memory.id == stored.id


async def test_bad_memories_are_rejected_and_nothing_is_written(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime(FakeChatModel())
    user_id, _ = await _user_and_thread(runtime)
    for bad in ("", "   ", "x" * 5000):
        with pytest.raises(InvalidInputError):
            await runtime.memories.remember(user_id, bad)
    with pytest.raises(InvalidInputError):
        await runtime.memories.search(user_id, "  ")
    assert await runtime.memories.list_memories(user_id) == []
    assert await runtime.memories.store.events(user_id) == []


async def test_turns_missed_by_a_crash_are_backfilled(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime(FakeChatModel())
    user_id, thread = await _user_and_thread(runtime)
    for text in ("written before the crash", "also never embedded", ""):
        if text:
            await runtime.conversations.append_message(thread, "user", text)
    assert await runtime.episodic.backfill(user_id=user_id) == 2
    assert {m.text for m in await runtime.memories.list_memories(user_id, kinds=("episodic",))} == {
        "written before the crash",
        "also never embedded",
    }


async def test_the_app_backfills_missed_turns_when_it_starts_its_workers(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime(FakeChatModel())
    user_id, thread = await _user_and_thread(runtime)
    await runtime.conversations.append_message(thread, "user", "left unembedded by a shutdown")
    runtime.start_workers()
    await runtime.drain()
    assert [m.text for m in await runtime.memories.list_memories(user_id, kinds=("episodic",))] == [
        "left unembedded by a shutdown"
    ]


async def test_changing_the_embedder_requires_a_reembed_which_keeps_memories_searchable(
    make_runtime: MakeRuntime, pool: AsyncConnectionPool
) -> None:
    runtime = make_runtime(FakeChatModel())
    user_id, _ = await _user_and_thread(runtime)
    await runtime.memories.remember(user_id, "Blue whales are the largest animals.")
    store = runtime.memories.store
    await store.check_embedding_model("hash", 384)
    with pytest.raises(ConfigError, match="reembed"):
        await store.check_embedding_model("hash", 64)
    seen: list[tuple[int, int]] = []
    assert await reembed_all(pool, HashEmbedder(64), progress=lambda done, total: seen.append((done, total))) == 1
    assert seen == [(1, 1)]
    await store.check_embedding_model("hash", 64)
    other = make_runtime(FakeChatModel(), embedder_instance=HashEmbedder(64))
    hits = await other.memories.search(user_id, "largest animals")
    assert hits and hits[0].memory.text == "Blue whales are the largest animals."


class FailingSecondBatch(HashEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    async def passages(self, texts: Any) -> Any:
        self.calls += 1
        if self.calls == 2:
            raise RuntimeError("the embedding server went away")
        return await super().passages(texts)


async def test_a_failed_batch_fails_only_its_own_turns_and_backfill_takes_them_later(
    make_runtime: MakeRuntime,
) -> None:
    runtime = make_runtime(FakeChatModel())
    user_id, thread = await _user_and_thread(runtime)
    writer = EpisodicWriter(runtime.pool, runtime.memories.store, FailingSecondBatch(), batch=2)
    messages = [await runtime.conversations.append_message(thread, "user", f"turn {n}") for n in range(5)]
    done = [writer.submit(m) for m in messages]  # queued together: batches of 2, 2 (fails) and 1
    await writer.flush()
    failed = [isinstance(f.exception(), RuntimeError) for f in done]
    assert failed == [False, False, True, True, False]
    # The batch stored after the failure started a backfill, which gave the failed turns their memory.
    assert len(await runtime.memories.list_memories(user_id, kinds=("episodic",))) == 5
    assert await writer.backfill(user_id=user_id) == 0


class _CountingQueries(HashEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.queried: list[str] = []

    async def queries(self, texts: Any) -> Any:
        self.queried.extend(texts)
        return await super().queries(texts)


async def test_a_turn_embeds_its_question_once(make_runtime: MakeRuntime) -> None:
    counting = _CountingQueries()
    runtime = make_runtime(FakeChatModel(), embedder_instance=QueryCache(counting))
    _, thread = await _user_and_thread(runtime)
    await _talk(runtime, thread, "Where did my sister move last spring?")
    # Started before the message is stored, then shared by the memory and document searches.
    assert counting.queried == ["Where did my sister move last spring?"]
