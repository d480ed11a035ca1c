"""Off means off: what the model receives, and what the stores hold, after each memory switch.

Each case plants a unique marker, uses a control (long-term memory off for all chats, a temporary chat, a
/private message) and then checks the exact messages the fake model received on the next turn, and scans every
Postgres table and every Redis key of the test for the marker (tests/store_scan.py).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence

import psycopg
import redis.asyncio as aioredis
from chainlit.types import Pagination, ThreadFilter
from psycopg_pool import AsyncConnectionPool
from typer.testing import CliRunner

from assistant.application.facade import Assistant
from assistant.cli.main import app
from assistant.mcp.context_block import context_block
from assistant.pipeline.turn import TurnFinished
from assistant.providers.base import ChatMessage
from assistant.providers.fake import FakeChatModel, default_reply
from assistant.runtime import Runtime
from assistant.web.data_layer import (
    PRIVATE_MARK,
    RECEIPT_NAME,
    TEMPORARY_REPLY_MARK,
    AssistantDataLayer,
    message_step,
)
from memory.conversations import Thread, User
from tests.store_scan import scan

MakeRuntime = Callable[..., Runtime]
EXTRACT = "You read one exchange"
RECONCILE = "You keep a list of facts"
SUMMARIZE = "You keep a running summary"


def _script(messages: Sequence[ChatMessage]) -> str:
    """Extracts every user line as a fact (so any exchange that reached extraction leaves a memory)."""
    system, last = messages[0].content, messages[-1].content
    if system.startswith(EXTRACT):
        said = last.splitlines()[0].removeprefix("user: ")
        return json.dumps({"facts": [{"text": f"The user said: {said}", "stated_by": "user", "importance": 0.9}]})
    if system.startswith(RECONCILE):
        return json.dumps({"action": "add", "target_id": None, "text": None, "reason": "new"})
    return default_reply(messages)


def _marker(what: str) -> str:
    return f"{what}{uuid.uuid4().hex[:10]}"


def _text(messages: Sequence[ChatMessage]) -> str:
    return "\n".join(m.content for m in messages)


async def _say(runtime: Runtime, thread: Thread, text: str, *, private: bool = False) -> list[ChatMessage]:
    """One turn, then its background work; returns the messages of the turn's own model call."""
    model = runtime.model
    assert isinstance(model, FakeChatModel)
    before = len(model.received)
    events = [event async for event in runtime.pipeline.run(thread, text, private=private)]
    assert isinstance(events[-1], TurnFinished)
    await runtime.drain()
    return model.received[before]


def _background_requests(model: FakeChatModel, marker: str) -> list[str]:
    """Summary and extraction requests that carried the marker."""
    return [
        r[0].content[:30]
        for r in model.received
        if r[0].content.startswith((EXTRACT, RECONCILE, SUMMARIZE)) and marker in _text(r)
    ]


async def _planted(
    make_runtime: MakeRuntime, **overrides: object
) -> tuple[Runtime, FakeChatModel, User, Thread, str, str]:
    """A runtime whose user said a marker in an ordinary chat and pinned another; returns both markers."""
    model = FakeChatModel(_script)
    runtime = make_runtime(model, extraction="on", **overrides)
    owner = await runtime.conversations.ensure_user("ann")
    said, pinned = _marker("locker"), _marker("peanut")
    ordinary = await runtime.conversations.create_thread(owner.id, title="ordinary")
    await _say(runtime, ordinary, f"My locker code is {said}")
    await runtime.memories.remember(owner.id, f"I am allergic to {pinned}")
    return runtime, model, owner, ordinary, said, pinned


async def _rows(pool: AsyncConnectionPool, marker: str) -> list[tuple[str, bool, bool]]:
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT role, private, remember FROM messages WHERE content LIKE %s ORDER BY seq", (f"%{marker}%",)
        )
        return [(str(r[0]), bool(r[1]), bool(r[2])) for r in await cursor.fetchall()]


async def test_long_term_memory_off_for_all_chats_recalls_nothing_writes_nothing_and_keeps_pins(
    make_runtime: MakeRuntime, pool: AsyncConnectionPool, redis: aioredis.Redis, redis_prefix: str
) -> None:
    runtime, model, owner, _, said, pinned = await _planted(make_runtime)
    later = _marker("newcode")
    # With memory on, a new chat recalls what was said in the earlier one (so the checks below can fail).
    control = await _say(runtime, await runtime.conversations.create_thread(owner.id), "what is my locker code?")
    assert said in _text(control) and pinned in control[0].content

    await runtime.conversations.set_preferences(owner.id, {"memory": False})
    # Other tools asking for context over MCP get the pinned memories only, and are told why.
    block = await context_block(runtime, owner.id, "what is my locker code?", 800)
    assert said not in block["text"] and pinned in block["text"] and block["items"] == []
    assert block["long_term_off"] == "long-term memory is off for all your chats"
    off = await runtime.conversations.create_thread(owner.id)
    received = await _say(runtime, off, "what is my locker code?")
    assert said not in _text(received)
    assert pinned in received[0].content  # pinned memories are still shown to the model

    await _say(runtime, off, f"My new locker code is {later}")
    # The chat itself goes on (its short-term window), nothing reaches long-term memory or extraction.
    assert later in _text(await _say(runtime, off, "and the new one?"))
    assert _background_requests(model, later) == []
    residue = await scan(pool, redis, redis_prefix, later)
    assert set(residue.tables) == {"messages", "context_reports"}, residue
    assert residue.redis_keys == [runtime.short_term.keys.thread(owner.id, off.id, "window")], residue
    assert await _rows(pool, later) == [("user", False, False), ("assistant", False, False)]
    report = await runtime.reports.last(off)
    assert report is not None and report["long_term_off"] == "long-term memory is off for all your chats"

    # Until it is switched on again: then what was said before is recalled, what was said while off never is.
    await runtime.conversations.set_preferences(owner.id, {"memory": True})
    again = await _say(runtime, await runtime.conversations.create_thread(owner.id), "what is my locker code?")
    assert said in _text(again) and later not in _text(again)
    await runtime.drain()
    assert set((await scan(pool, redis, redis_prefix, later)).tables) == {"messages", "context_reports"}


async def test_a_temporary_chat_neither_reads_nor_writes_long_term_memory_and_is_listed_apart(
    make_runtime: MakeRuntime, pool: AsyncConnectionPool, redis: aioredis.Redis, redis_prefix: str
) -> None:
    runtime, model, owner, ordinary, said, pinned = await _planted(make_runtime, short_term_turns=2, summary_batch=2)
    secret = _marker("passport")
    temporary = await runtime.conversations.create_thread(owner.id, title="temporary")
    await runtime.conversations.update_thread_metadata(owner.id, temporary.id, {"temporary": True})
    received = await _say(runtime, temporary, "what is my locker code?")
    assert said not in _text(received) and pinned in received[0].content
    await _say(runtime, temporary, f"My passport number is {secret}")
    assert secret in _text(await _say(runtime, temporary, "repeat it"))  # the chat itself remembers its turns
    for text in ("one", "two", "three"):  # enough turns for a rolling summary to be due
        await _say(runtime, temporary, text)
    assert await runtime.short_term.summaries.get(temporary) is None  # a temporary chat keeps no summary

    elsewhere = await _say(runtime, await runtime.conversations.create_thread(owner.id), "what is my passport number?")
    assert secret not in _text(elsewhere)
    assert _background_requests(model, secret) == []
    residue = await scan(pool, redis, redis_prefix, secret)
    assert set(residue.tables) == {"messages", "context_reports"}, residue
    assert all(str(temporary.id) in key for key in residue.redis_keys), residue  # only its own window
    assert {row[2] for row in await _rows(pool, secret)} == {False}

    # Not listed with ordinary chats: the sidebar leaves it out, the CLI lists it apart.
    layer = AssistantDataLayer(lambda: Assistant(runtime))
    page = await layer.list_threads(Pagination(first=20), ThreadFilter(userId=str(owner.id)))
    listed = {t["id"] for t in page.data}
    assert str(ordinary.id) in listed and str(temporary.id) not in listed
    assert await runtime.conversations.temporary_threads(owner.id) == {temporary.id}
    resumed = await layer.get_thread(str(temporary.id))
    assert resumed is not None  # it can still be opened by its address, each reply with its receipt
    assert len([step for step in resumed["steps"] if step["name"] != RECEIPT_NAME]) == 12
    replies = [step for step in resumed["steps"] if step["type"] == "assistant_message"]
    assert all(step["output"].endswith(TEMPORARY_REPLY_MARK) for step in replies)  # marked when reopened


async def test_a_private_message_is_kept_marked_and_reaches_no_memory(
    make_runtime: MakeRuntime, pool: AsyncConnectionPool, redis: aioredis.Redis, redis_prefix: str
) -> None:
    runtime, model, owner, _, said, pinned = await _planted(make_runtime, short_term_turns=2, summary_batch=2)
    secret = _marker("pin")
    thread = await runtime.conversations.create_thread(owner.id)
    await _say(runtime, thread, "hello there")
    private = await _say(runtime, thread, f"my locker code PIN is {secret}", private=True)
    # A private message reads no long-term memory (the system message holds what is recalled).
    assert said not in private[0].content and pinned in private[0].content
    assert "hello there" in _text(private)  # but it is answered within the conversation

    # The next turn does not see it, nor does a turn after Redis lost the thread (rebuilt from the log).
    assert secret not in _text(await _say(runtime, thread, "what did I just tell you?"))
    await runtime.short_term.forget(thread)
    assert secret not in _text(await _say(runtime, thread, "and before that?"))
    for text in ("one", "two", "three"):
        await _say(runtime, thread, text)
    summary = await runtime.short_term.summaries.get(thread)
    assert summary is not None and "hello there" in summary.content and secret not in summary.content
    elsewhere = await _say(runtime, await runtime.conversations.create_thread(owner.id), "my locker code PIN?")
    assert secret not in _text(elsewhere)
    assert _background_requests(model, secret) == []

    residue = await scan(pool, redis, redis_prefix, secret)
    assert residue.tables == {"messages": 2, "context_reports": 1} and residue.redis_keys == [], residue
    assert await _rows(pool, secret) == [("user", True, False), ("assistant", True, False)]

    # The mark survives: in what the chat shows when the thread is resumed, and in the export.
    stored = [m for m in await runtime.conversations.messages(thread) if secret in m.content]
    steps = [message_step(m, "ann") for m in stored]
    assert all(s["output"].endswith(PRIVATE_MARK) and s["metadata"]["private"] for s in steps)
    lines = [line async for line in runtime.portability.lines(owner.id)]
    exported = [line for line in lines if line["type"] == "message" and secret in line["content"]]
    assert [(line["private"], line["remember"]) for line in exported] == [(True, False), (True, False)]
    assert all(not line["private"] for line in lines if line["type"] == "message" and secret not in line["content"])

    # A retry of the private message (after a provider error) answers it privately again.
    before = len(model.received)
    events = [event async for event in runtime.pipeline.answer(thread, stored[0])]
    await runtime.drain()
    assert isinstance(events[-1], TurnFinished) and events[-1].reply.private
    report = events[-1].report
    assert report.long_term_off == "this message is private" and report.tier("long_term").items == []
    assert secret in _text(model.received[before])
    assert (await scan(pool, redis, redis_prefix, secret)).redis_keys == []


def test_the_cli_chat_obeys_the_switch_and_lists_temporary_chats_apart(store_env: None, database_url: str) -> None:
    """The switch is kept by the pipeline, so a chat in the terminal obeys what was chosen in the browser."""

    def cli(*args: str) -> str:
        result = CliRunner().invoke(app, list(args))
        assert result.exit_code == 0, result.output
        return result.stdout

    said = _marker("locker")
    cli("chat", f"My locker code is {said}", "--user", "ann", "--thread", "first")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE users SET metadata = jsonb_set(metadata, '{preferences}', '{\"memory\": false}') WHERE name = 'ann'"
        )
    reply = json.loads(cli("chat", "what is my locker code?", "--user", "ann", "--thread", "second", "--json"))
    assert said not in reply["reply"]  # the fake model's reply lists every context item it received
    assert reply["context"]["long_term_off"] == "long-term memory is off for all your chats"

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE threads SET metadata = metadata || '{\"temporary\": true}' WHERE name = 'second'")
    listed = json.loads(cli("threads", "list", "--user", "ann", "--json"))
    assert {t["name"]: t["temporary"] for t in listed} == {"first": False, "second": True}
    table = cli("threads", "list", "--user", "ann")
    assert table.index("first") < table.index("temporary chats") < table.index("second")
