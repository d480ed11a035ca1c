"""The job queue: jobs stored with their message, idempotent handlers, ids only, no jobs where memory is off."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool
from typer.testing import CliRunner

from assistant.cli.main import app
from assistant.jobs.kinds import EMBED_TURN, EXTRACT_FACTS, SUMMARIZE, TurnJobs, job
from assistant.pipeline.turn import TurnFinished
from assistant.providers.fake import FakeChatModel
from assistant.runtime import Runtime
from memory.conversations import Thread
from memory.job_queue import JobRequest
from tests.store_scan import scan_postgres
from tests.test_extraction import scripted

MakeRuntime = Callable[..., Runtime]
runner = CliRunner()


async def _turn(runtime: Runtime, thread: Thread, text: str, *, private: bool = False) -> TurnFinished:
    events = [event async for event in runtime.pipeline.run(thread, text, private=private)]
    assert isinstance(events[-1], TurnFinished)
    return events[-1]


async def _jobs(pool: AsyncConnectionPool) -> list[tuple[str, dict[str, Any]]]:
    async with pool.connection() as conn:
        rows = await (await conn.execute("SELECT task_name, args FROM procrastinate_jobs ORDER BY id")).fetchall()
    return [(str(task), dict(args)) for task, args in rows]


async def _about(pool: AsyncConnectionPool, message_id: uuid.UUID) -> list[str]:
    return sorted(
        task
        for task, args in await _jobs(pool)
        if args.get("message_id") == str(message_id) or str(message_id) in args.get("messages", [])
    )


async def test_a_stored_message_has_its_jobs_from_the_same_transaction(
    make_runtime: MakeRuntime, pool: AsyncConnectionPool
) -> None:
    runtime = make_runtime(FakeChatModel(scripted()), extraction="on")
    user = await runtime.conversations.ensure_user("ann")
    thread = await runtime.conversations.create_thread(user.id)
    finished = await _turn(runtime, thread, "I moved to Lisbon last month.")  # not drained: the jobs wait

    assert await _about(pool, finished.user_message.id) == [EMBED_TURN, EXTRACT_FACTS]
    assert await _about(pool, finished.reply.id) == [EMBED_TURN, EXTRACT_FACTS, SUMMARIZE]
    # Ids only: no text of the turn in any of the queue's tables.
    for text in ("Lisbon", finished.reply.content[:20]):
        assert not {t: n for t, n in (await scan_postgres(pool, text)).items() if t.startswith("procrastinate")}

    # A job that cannot be stored takes its message with it: one transaction, never a message without its job.
    before = await runtime.conversations.count_messages(thread)
    with pytest.raises(psycopg.errors.StringDataRightTruncation):
        await runtime.conversations.append_message(thread, "user", "hello", jobs=[JobRequest(EMBED_TURN, "q" * 300)])
    assert await runtime.conversations.count_messages(thread) == before

    await runtime.drain()
    assert await runtime.jobs.rows.waiting() == 0
    assert await runtime.jobs.rows.counts() == {"succeeded": 4}  # two embeddings, the facts, the summary


async def test_every_handler_run_twice_changes_nothing(make_runtime: MakeRuntime, pool: AsyncConnectionPool) -> None:
    model = FakeChatModel(scripted())
    runtime = make_runtime(model, extraction="on", summary_batch=1, short_term_turns=2)
    user = await runtime.conversations.ensure_user("ann")
    thread = await runtime.conversations.create_thread(user.id)
    for text in ("I moved to Lisbon last month.", "Hello again.", "How are you?"):
        await _turn(runtime, thread, text)
    await runtime.drain()

    async def state() -> tuple[Any, ...]:
        memories = await runtime.memories.list_memories(user.id, include_history=True, limit=1000)
        summary = await runtime.short_term.summaries.get(thread)
        return (
            sorted((m.kind, m.text, str(m.message_id)) for m in memories),
            await runtime.memories.store.events(user.id),
            summary.content if summary else None,
        )

    before, calls = await state(), len(model.received)
    done = await runtime.jobs.rows.list(status="succeeded", limit=1000)
    assert {j.task for j in done} == {EMBED_TURN, EXTRACT_FACTS, SUMMARIZE}
    await runtime.jobs.defer([JobRequest(j.task, j.queue, j.args) for j in done] + [job("episodic.backfill")])
    await runtime.drain()

    assert await state() == before
    assert len(model.received) == calls  # nothing was asked of the model again


async def test_nothing_is_queued_for_private_messages_temporary_chats_or_memory_off(
    make_runtime: MakeRuntime, pool: AsyncConnectionPool
) -> None:
    runtime = make_runtime(FakeChatModel(scripted()), extraction="on")
    user = await runtime.conversations.ensure_user("ann")
    thread = await runtime.conversations.create_thread(user.id)
    private = await _turn(runtime, thread, "My secret is 4711.", private=True)
    assert await _about(pool, private.user_message.id) == [] and await _about(pool, private.reply.id) == []

    temporary = await runtime.conversations.create_thread(user.id)
    await runtime.conversations.update_thread_metadata(user.id, temporary.id, {"temporary": True})
    await _turn(runtime, temporary, "Just between us.")
    assert [args for _, args in await _jobs(pool) if args.get("thread_id") == str(temporary.id)] == []

    await runtime.conversations.set_preferences(user.id, {"memory": False})
    off = await _turn(runtime, thread, "Do not remember this.")
    # Long-term memory off: no episodic memory or facts; the short-term summary of the chat goes on.
    assert await _about(pool, off.user_message.id) == [] and await _about(pool, off.reply.id) == [SUMMARIZE]


async def test_forgetting_leaves_no_text_or_waiting_job_in_the_queue(
    make_runtime: MakeRuntime, pool: AsyncConnectionPool
) -> None:
    marker = f"zebra{uuid.uuid4().hex[:8]}"
    runtime = make_runtime(FakeChatModel(scripted()), extraction="on")
    user = await runtime.conversations.ensure_user("ann")
    thread = await runtime.conversations.create_thread(user.id)
    first = await _turn(runtime, thread, f"My locker code is {marker}.")
    await runtime.drain()
    second = await _turn(runtime, thread, f"Again: {marker}.")  # its jobs still wait
    memories = await runtime.memories.list_memories(user.id, limit=100)
    turn = next(m for m in memories if m.message_id == first.user_message.id)

    await runtime.memories.forget(user.id, [turn.id])
    await runtime.memories.forget_all(user.id)
    await runtime.drain()

    assert await _about(pool, second.user_message.id) == []
    assert {t: n for t, n in (await scan_postgres(pool, marker)).items() if t.startswith("procrastinate")} == {}
    assert await scan_postgres(pool, marker) == {}


def test_jobs_cli_lists_retries_and_purges_failed_jobs(
    store_env: None, make_runtime: MakeRuntime, pool: AsyncConnectionPool
) -> None:
    import asyncio

    async def fail_one() -> None:
        runtime = make_runtime(FakeChatModel(scripted()))
        # A bug (an id that is not one): failed at once, never retried on its own.
        await runtime.jobs.defer([job(EMBED_TURN, user_id="not-an-id", message_id="nor-this")])
        await runtime.drain()
        await runtime.jobs.close()  # its connections belong to this event loop

    asyncio.run(fail_one())

    listed = runner.invoke(app, ["jobs", "list", "--status", "failed", "--json"])
    assert listed.exit_code == 0, listed.output
    [failed] = json.loads(listed.output)
    assert failed["task"] == EMBED_TURN and failed["status"] == "failed" and failed["attempts"] == 1
    table = runner.invoke(app, ["jobs", "list", "-n", "5"])
    assert table.exit_code == 0 and "episodic.embed" in table.output and "1 failed" in table.output

    assert runner.invoke(app, ["jobs", "list", "--status", "lost"]).exit_code == 1
    retried = runner.invoke(app, ["jobs", "retry", str(failed["id"])])
    assert retried.exit_code == 0 and "Queued 1 failed job again." in retried.output
    [again] = json.loads(runner.invoke(app, ["jobs", "list", "--status", "todo", "--json"]).output)
    assert again["id"] == failed["id"] and again["attempts"] == 0
    assert "No failed job" in runner.invoke(app, ["jobs", "retry"]).output

    assert runner.invoke(app, ["jobs", "purge", "--status", "todo", "--yes"]).exit_code == 1  # never waiting ones
    assert runner.invoke(app, ["jobs", "purge"], input="n\n").exit_code == 1
    asyncio.run(fail_one())  # runs the retried job (and fails it again), and fails one more
    purged = runner.invoke(app, ["jobs", "purge", "--yes", "--json"])
    assert purged.exit_code == 0 and json.loads(purged.output) == {"purged": 2}
    assert json.loads(runner.invoke(app, ["jobs", "list", "--json"]).output) == []


def test_which_jobs_a_turn_brings_follows_the_memory_switches() -> None:
    jobs = TurnJobs(remembering=True, extracting=True)
    reply = jobs.for_reply(write=True, summarize=True, user_message_id="u1")
    assert [j.task for j in reply] == [EMBED_TURN, EXTRACT_FACTS, SUMMARIZE]
    assert reply[1].args == {"messages": ["u1"]} and reply[2].lock == "summary:{thread_id}"
    # Private, temporary or memory off: nothing that writes memory; a partial reply: no facts, no summary.
    assert (
        jobs.for_user_message(write=False) == []
        and jobs.for_reply(write=False, summarize=False, user_message_id="u") == []
    )
    assert [j.task for j in jobs.for_reply(write=True, summarize=True, user_message_id="u", complete=False)] == [
        EMBED_TURN
    ]
    off = TurnJobs(remembering=False, extracting=True)
    assert [j.task for j in off.for_reply(write=True, summarize=True, user_message_id="u")] == [SUMMARIZE]
