"""Writes that commit together in Postgres: a memory change and its audit event, and extraction jobs that are
idempotent and park a bug instead of retrying it.

The audit write is made to fail by a trigger in this test's own database, so each change fails between its
memory write and its audit write, on the real server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from assistant.jobs.kinds import EXTRACT_FACTS, job
from assistant.providers.fake import FakeChatModel
from assistant.runtime import Runtime
from memory.errors import StoreError
from memory.long_term.service import MemoryService
from tests.test_extraction import _talk, scripted

MakeRuntime = Callable[..., Runtime]

REFUSE_EVENTS = """
CREATE OR REPLACE FUNCTION refuse_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'injected: the audit write fails'; END $$;
CREATE TRIGGER refuse_event BEFORE INSERT ON memory_events FOR EACH ROW EXECUTE FUNCTION refuse_event();
"""


async def _state(pool: AsyncConnectionPool) -> tuple[list[Any], list[Any]]:
    async with pool.connection() as conn:
        memories = await (
            await conn.execute(
                "SELECT id, text, pinned, valid_to, importance, source_message_ids FROM memories ORDER BY id"
            )
        ).fetchall()
        events = await (await conn.execute("SELECT id, action, undone_at FROM memory_events ORDER BY id")).fetchall()
    return memories, events


async def _audit_fails(pool: AsyncConnectionPool, on: bool) -> None:
    async with pool.connection() as conn:
        if on:
            await conn.execute(REFUSE_EVENTS)
        else:
            await conn.execute("DROP TRIGGER IF EXISTS refuse_event ON memory_events")


async def test_a_memory_change_without_its_audit_event_leaves_nothing(
    make_runtime: MakeRuntime, pool: AsyncConnectionPool
) -> None:
    runtime = make_runtime(FakeChatModel())
    service: MemoryService = runtime.memories
    user = await runtime.conversations.ensure_user("ann")
    kept = await service.remember(user.id, "The user keeps bees.", pinned=False)
    other = await service.remember(user.id, "The user has a red bicycle.", pinned=True)
    assert kept.event_id is not None
    await _audit_fails(pool, True)
    before = await _state(pool)

    changes = {
        "remember a new fact": service.remember(user.id, "The user speaks Finnish."),
        "remember a repeat": service.remember(user.id, "The user keeps bees.", pinned=True),
        "edit": service.edit(user.id, kept.id, "The user keeps bees and hens."),
        "pin": service.set_pinned(user.id, kept.id, True),
        "unpin": service.set_pinned(user.id, other.id, False),
        "invalidate": service.invalidate(user.id, kept.id, reason="contradicted"),
        "undo": service.undo(user.id, kept.event_id),
    }
    for name, change in changes.items():
        with pytest.raises((psycopg.Error, StoreError), match="injected"):
            await change
        assert await _state(pool) == before, f"{name} left a change without its audit event"

    await _audit_fails(pool, False)
    await service.set_pinned(user.id, kept.id, True)  # the same change commits whole once the audit write works
    memories, events = await _state(pool)
    assert len(events) == len(before[1]) + 1 and events != before[1]
    assert {m[1]: m[2] for m in memories}["The user keeps bees."] is True


async def test_an_undo_is_done_once(make_runtime: MakeRuntime, pool: AsyncConnectionPool) -> None:
    runtime = make_runtime(FakeChatModel())
    user = await runtime.conversations.ensure_user("ann")
    added = await runtime.memories.remember(user.id, "The user keeps bees.")
    assert added.event_id is not None
    # Two undos of one event at once: the event is locked, so one reverses it and the other is told it is done.
    results = await asyncio.gather(
        runtime.memories.undo(user.id, added.event_id),
        runtime.memories.undo(user.id, added.event_id),
        return_exceptions=True,
    )
    failures = [r for r in results if isinstance(r, Exception)]
    assert len(failures) == 1 and "already undone" in str(failures[0])
    memories, events = await _state(pool)
    assert memories == [] and [e[1] for e in events].count("undo") == 1


async def test_an_extraction_job_run_twice_stores_its_facts_once(make_runtime: MakeRuntime) -> None:
    model = FakeChatModel(scripted())
    runtime = make_runtime(model, extraction="on")
    extractor = runtime.extractor
    assert extractor is not None
    user = await runtime.conversations.ensure_user("ann")
    thread = await runtime.conversations.create_thread(user.id)
    first = await _talk(runtime, thread, "I moved to Lisbon last month.")
    [lisbon] = await runtime.memories.list_memories(user.id, kinds=("semantic",))
    events = await runtime.memories.store.events(user.id)
    calls = len(model.received)

    # The same job again, queued twice more: nothing is stored twice, and the model is not asked again.
    ids = {"user_id": str(user.id), "thread_id": str(thread.id), "message_id": str(first.reply.id)}
    again = job(EXTRACT_FACTS, messages=[str(first.user_message.id)], **ids)
    await runtime.jobs.defer([again, again])
    await runtime.drain()
    assert len(await runtime.jobs.rows.list(status="succeeded", task=EXTRACT_FACTS)) == 3
    assert await runtime.memories.list_memories(user.id, kinds=("semantic",), include_history=True) == [lisbon]
    assert await runtime.memories.store.events(user.id) == events
    assert len(model.received) == calls


async def test_a_bug_in_an_extraction_job_is_parked_not_retried(
    make_runtime: MakeRuntime, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    model = FakeChatModel(scripted())
    runtime = make_runtime(model, extraction="on")
    extractor = runtime.extractor
    assert extractor is not None
    user = await runtime.conversations.ensure_user("ann")
    thread = await runtime.conversations.create_thread(user.id)

    async def bug(*_: object, **__: object) -> None:
        raise KeyError("a bug in reconciling")

    monkeypatch.setattr(extractor, "_reconcile", bug)
    calls = len(model.received)
    await _talk(runtime, thread, "I moved to Lisbon last month.")  # drains the queue
    assert len(model.received) == calls + 2  # the reply and one extraction, never a second attempt
    [failed] = await runtime.jobs.rows.list(status="failed")
    assert failed.task == EXTRACT_FACTS and failed.attempts == 1 and "KeyError" in caplog.text
    assert await runtime.memories.list_memories(user.id, kinds=("semantic",)) == []

    # A job that cannot even be read is a bug too: failed at once.
    await runtime.jobs.defer([job(EXTRACT_FACTS, user_id=str(user.id), messages=["x"])])
    await runtime.drain()
    assert len(await runtime.jobs.rows.list(status="failed")) == 2 and await runtime.jobs.rows.waiting() == 0
