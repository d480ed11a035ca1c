"""What the browser's memory manager lists: kinds, counts, where each memory came from; reading writes nothing."""

from collections.abc import Callable

import pytest
from fastapi import HTTPException

from assistant.application.facade import Assistant
from assistant.providers.fake import FakeChatModel
from assistant.runtime import Runtime
from assistant.web import memory_manager

MakeRuntime = Callable[..., Runtime]


async def _counts(runtime: Runtime) -> tuple[int, int]:
    async with runtime.pool.connection() as conn:
        row = await (
            await conn.execute("SELECT (SELECT count(*) FROM memories), (SELECT count(*) FROM memory_events)")
        ).fetchone()
    assert row
    return int(row[0]), int(row[1])


async def test_the_listing_groups_memories_and_says_where_each_came_from(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime(FakeChatModel())
    owner = await runtime.conversations.ensure_user("ann")
    thread = await runtime.conversations.create_thread(owner.id, title="Trip planning")
    async for _ in runtime.pipeline.run(thread, "my sister lives in Lisbon"):
        pass
    await runtime.drain()
    (said,) = [m for m in await runtime.conversations.messages(thread) if m.role == "user"]
    await runtime.memories.remember(owner.id, "I am vegetarian")
    drawn = await runtime.memories.remember(
        owner.id, "Ann's sister lives in Lisbon", pinned=False, sources=[said.id], origin="extracted"
    )
    old = await runtime.memories.remember(owner.id, "I live in Berlin", pinned=False)
    await runtime.memories.edit(owner.id, old.id, "I live in Porto")
    other = await runtime.conversations.ensure_user("bob")
    await runtime.memories.remember(other.id, "Bob's secret fact")

    before = await _counts(runtime)
    listing = await memory_manager.listing(Assistant(runtime), owner)
    assert await _counts(runtime) == before  # reading for display writes nothing

    assert [m["text"] for m in listing["pinned"]["items"]] == ["I am vegetarian"]
    assert listing["pinned"]["items"][0]["origin"] == "remembered with /remember"
    facts = {m["text"]: m for m in listing["facts"]["items"]}
    assert set(facts) == {"Ann's sister lives in Lisbon", "I live in Porto"}
    fact = facts["Ann's sister lives in Lisbon"]
    assert fact["id"] == str(drawn.id) and fact["origin"] == "extracted from a conversation"
    assert fact["thread_id"] == str(thread.id) and fact["thread_title"] == "Trip planning"
    assert fact["source_excerpt"] == "my sister lives in Lisbon"
    assert listing["superseded"] == 1
    assert listing["turns"]["total"] == 2
    assert listing["turns"]["threads"] == [
        {
            "thread_id": str(thread.id),
            "title": "Trip planning",
            "turns": 2,
            "last": listing["turns"]["threads"][0]["last"],
        }
    ]
    assert "Bob" not in str(listing)
    assert listing["memory_on"] is True and listing["extraction"]["on"] is False

    # Turns are searched on the server (only what matches, as /recall finds it); another user's never.
    turns = await memory_manager.matching_turns(Assistant(runtime), owner, "Lisbon")
    assert [t["text"] for t in turns if t["who"] == "you"] == ["my sister lives in Lisbon"]
    assert all(t["kind"] == "episodic" and t["thread_title"] == "Trip planning" for t in turns)
    assert await memory_manager.matching_turns(Assistant(runtime), other, "Lisbon") == []
    assert await memory_manager.matching_turns(Assistant(runtime), owner, "  ") == []

    # With memory off for all chats the manager still lists everything, and says memory is off.
    await runtime.conversations.set_preferences(owner.id, {"memory": False})
    off = await memory_manager.listing(Assistant(runtime), owner)
    assert off["memory_on"] is False and off["pinned"] == listing["pinned"]
    assert await _counts(runtime) == before


async def test_the_routes_need_a_signed_in_user() -> None:
    with pytest.raises(HTTPException) as refused:
        await memory_manager._owner(None)
    assert refused.value.status_code == 401
