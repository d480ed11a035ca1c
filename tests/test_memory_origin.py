"""Where each memory came from, on every path, after an upgrade and in exports; what /memory and /edit show."""

import json
from collections.abc import Callable

import psycopg
import pytest

from assistant.application.facade import Assistant
from assistant.providers.fake import FakeChatModel
from assistant.runtime import Runtime
from assistant.web import commands
from memory.db.migrations import migrate
from memory.errors import InvalidInputError, NotFoundError
from tests.test_extraction import _talk, scripted

MakeRuntime = Callable[..., Runtime]


async def test_an_upgrade_gives_existing_memories_their_origin(empty_database_url: str) -> None:
    await migrate(empty_database_url, target=8)
    async with await psycopg.AsyncConnection.connect(empty_database_url, autocommit=True) as conn:

        async def one(sql: str, *params: object) -> object:
            row = await (await conn.execute(sql, params)).fetchone()
            assert row
            return row[0]

        user = await one("INSERT INTO users (name) VALUES ('ann') RETURNING id")
        thread = await one("INSERT INTO threads (user_id) VALUES (%s) RETURNING id", user)
        message = await one(
            "INSERT INTO messages (thread_id, user_id, role, content) VALUES (%s, %s, 'user', 'hi') RETURNING id",
            thread,
            user,
        )
        ids: dict[str, object] = {}
        for name, reason, previous in (
            ("turn", None, None),
            ("mcp", "stated through MCP", None),
            ("command", "/remember in the chat", None),
            ("extracted", "extracted: nothing similar is stored", None),
            ("cli", "stated by the user", None),
            ("imported", None, None),
            ("edited", "edited", "command"),
        ):
            kind = "episodic" if name == "turn" else "semantic"
            ids[name] = await one(
                "INSERT INTO memories (user_id, kind, text, message_id, previous_id) "
                "VALUES (%s, %s, %s, %s, %s) RETURNING id",
                user,
                kind,
                f"memory {name}",
                message if kind == "episodic" else None,
                ids.get(previous) if previous else None,
            )
            if reason:
                await conn.execute(
                    "INSERT INTO memory_events (user_id, memory_id, action, reason) VALUES (%s, %s, 'add', %s)",
                    (user, ids[name], reason),
                )
    await migrate(empty_database_url)
    async with await psycopg.AsyncConnection.connect(empty_database_url) as conn:
        rows: dict[str, str] = dict(await (await conn.execute("SELECT text, origin FROM memories")).fetchall())
    assert rows == {
        "memory turn": "chat",
        "memory mcp": "mcp",
        "memory command": "command",
        "memory extracted": "extracted",
        "memory cli": "cli",
        "memory imported": "imported",
        "memory edited": "command",  # an edited version keeps the origin of the first one
    }


async def test_each_path_stores_its_origin_and_exports_keep_it(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime(FakeChatModel(scripted()), extraction="on")
    user = await runtime.conversations.ensure_user("ann")
    thread = await runtime.conversations.create_thread(user.id)
    await _talk(runtime, thread, "I moved to Lisbon last month.")
    command = await commands.remember_text(Assistant(runtime), user, "I am vegetarian")
    edited = await runtime.memories.edit(user.id, command.id, "I am vegan")
    origins = {m.text: m.origin_label for m in await runtime.memories.list_memories(user.id)}
    assert origins == {
        "I moved to Lisbon last month.": "said in chat",
        "The user lives in Lisbon.": "extracted from a conversation",
        "I am vegan": "remembered with /remember",
        **{t: "said in chat" for t in origins if t.startswith("Fake reply")},
    }
    assert edited.origin == "command"

    exported = [json.loads(line) for line in (await runtime.portability.export_jsonl(user.id)).splitlines()]
    assert {m["text"]: m["origin"] for m in exported if m["type"] == "memory"}["I am vegan"] == "command"
    other = await runtime.conversations.ensure_user("bob")
    lines = [
        {"type": "memory", "text": "I am allergic to peanuts", "pinned": True},
        {"type": "memory", "text": "i am allergic to peanuts ", "pinned": True},  # a repeat in the same file
        *(m for m in exported if m["type"] == "memory" and m["text"] == "I am vegan"),
    ]
    report = await runtime.portability.import_lines(other.id, lines)
    assert report.memories == 2 and report.skipped == 1
    bobs = {m.text: m.origin for m in await runtime.memories.list_memories(other.id)}
    assert bobs == {"I am allergic to peanuts": "imported", "I am vegan": "command"}
    again = await runtime.portability.import_lines(other.id, [{"type": "memory", "text": "I am vegan"}])
    assert again.memories == 0 and again.skipped == 1  # already there, under another id


async def test_memory_listing_counts_everything_and_gives_ids(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime(FakeChatModel())
    owner = await runtime.conversations.ensure_user("ann")
    thread = await runtime.conversations.create_thread(owner.id)
    for n in range(11):
        async for _ in runtime.pipeline.run(thread, f"message number {n}"):
            pass
    await runtime.drain()
    pinned = await runtime.memories.remember(owner.id, "I am vegetarian")
    await runtime.memories.edit(owner.id, pinned.id, "I am vegan")
    await runtime.memories.remember(owner.id, "I like green tea", pinned=False, origin="mcp")

    listing = await commands.memory_listing(Assistant(runtime), owner, "Europe/Paris")
    assert "Fact extraction from our conversations is **off**: the fake model is scripted." in listing
    assert "Conversation turns (searchable, recalled when relevant) (22, newest 5 shown)" in listing
    assert "Pinned (always in my context) (1)" in listing and "Superseded (kept as history) (1)" in listing
    assert "Facts (recalled when relevant) (1)" in listing
    turns = await runtime.memories.list_memories(owner.id, kinds=("episodic",), limit=5)
    for turn in turns:  # turns have ids too, so `/forget <id>` and `/edit <id>` can name them
        assert f"`{str(turn.id)[:8]}` " in listing
    assert "…and 17 more: `/recall <words>` finds them" in listing
    assert "you: message number 10" in listing and "said in chat" in listing and "added over MCP" in listing
    assert "/edit <id> <new text>" in listing
    empty = await commands.memory_listing(Assistant(runtime), await runtime.conversations.ensure_user("new"), None)
    assert "Nothing stored yet" in empty


async def test_edit_in_the_chat_makes_a_new_version_and_bad_ids_are_explained(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime(FakeChatModel())
    owner = await runtime.conversations.ensure_user("ann")
    old = await commands.remember_text(Assistant(runtime), owner, "I live in Berlin")
    new, event_id = await commands.edit_memory(Assistant(runtime), owner, f"{str(old.id)[:8]} I live in Lisbon")
    assert new.text == "I live in Lisbon" and new.previous_id == old.id and new.pinned and event_id is not None
    assert [m.text for m in await runtime.memories.list_memories(owner.id, kinds=("semantic",))] == ["I live in Lisbon"]

    for argument, error, words in (
        ("zzzz I live in Porto", InvalidInputError, "is not a memory id"),
        ("deadbeef I live in Porto", NotFoundError, "no memory has an id starting with deadbeef"),
        (str(new.id)[:8], InvalidInputError, "/edit <id> <new text>"),
        (f"{str(old.id)[:8]} I live in Porto", InvalidInputError, "no longer current"),
        (f"{str(new.id)[:8]}   i live in LISBON", InvalidInputError, "already says that"),
    ):
        with pytest.raises(error, match=words):
            await commands.edit_memory(Assistant(runtime), owner, argument)
    await runtime.memories.undo(owner.id, event_id)  # the Undo button under the answer
    assert [m.text for m in await runtime.memories.list_memories(owner.id, kinds=("semantic",))] == ["I live in Berlin"]
    assert "edit" in commands.COMMANDS and commands.COMMANDS["edit"].needs_argument
