"""How recalled turns reach the model: a long one without its asides, a short one beside its match, and a
forgotten one not at all (memory/long_term/tier.py, memory/retrieval/excerpts.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from assistant.jobs import kinds
from assistant.providers.fake import FakeChatModel
from assistant.runtime import Runtime
from memory.conversations import Thread
from memory.long_term.tier import LongTermTier
from memory.retrieval.excerpts import CUT
from memory.retrieval.memo import cached_texts

MakeRuntime = Callable[..., Runtime]


async def _said(runtime: Runtime, thread: Thread, texts: list[str]) -> None:
    for text in texts:
        message = await runtime.conversations.append_message(
            thread, "user", text, speaker="Ann", jobs=[kinds.job(kinds.EMBED_TURN)]
        )
        await runtime.pipeline.writer.message_stored(thread, message)
    await runtime.drain()


async def test_a_long_turn_reaches_the_model_without_its_farthest_aside(make_runtime: MakeRuntime) -> None:
    model = FakeChatModel()
    runtime = make_runtime(model)
    user = await runtime.conversations.ensure_user("ann")
    first = await runtime.conversations.create_thread(user.id)
    long_turn = (
        "I finally signed up for a zqxpottery class last week and it was so much fun, the teacher showed us "
        "how to center the clay on the wheel. My kids loved the bowls I made. Anyway, how is your commute?"
    )
    await _said(runtime, first, [long_turn])
    second = await runtime.conversations.create_thread(user.id)
    events = [event async for event in runtime.pipeline.run(second, "Which zqxpottery class did I take?")]
    await runtime.drain()
    assert events
    system = model.received[-1][0].content
    assert "signed up for a zqxpottery class" in system and CUT in system
    assert "commute" not in system
    # The stored turn keeps every word: only what is shown is cut.
    stored = [m.text for m in await runtime.memories.list_memories(user.id)]
    assert long_turn in stored


async def test_a_short_turn_comes_in_beside_its_match_and_a_forgotten_turn_brings_nothing(
    make_runtime: MakeRuntime,
) -> None:
    runtime = make_runtime(FakeChatModel())
    user = await runtime.conversations.ensure_user("ann")
    thread = await runtime.conversations.create_thread(user.id)
    await _said(
        runtime, thread, ["Any plans for the weekend?", "I bake sourdough zqxbread every Sunday.", "Yes, always!"]
    )
    tier = LongTermTier(runtime.memories)
    now = datetime.now(UTC)
    found = await tier.recall(user.id, "When is zqxbread baked?", now=now, exclude=(), limit=20)
    texts = [item.text for item in found if not item.below_floor]
    assert any("zqxbread" in t for t in texts) and any("Yes, always!" in t for t in texts)
    # Forgotten, the matching turn is gone from recall, and the turns beside it no longer ride in on it.
    match = next(m for m in await runtime.memories.list_memories(user.id) if "zqxbread" in m.text)
    await runtime.memories.forget(user.id, [match.id])
    found = await tier.recall(user.id, "When is zqxbread baked?", now=now, exclude=(), limit=20)
    assert not any("zqxbread" in item.text for item in found)
    assert not [item for item in found if not item.below_floor]


async def test_forgetting_empties_what_recall_kept_of_the_texts(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime(FakeChatModel())
    user = await runtime.conversations.ensure_user("ann")
    thread = await runtime.conversations.create_thread(user.id)
    await _said(runtime, thread, ["My locker code is zqxlocker 4412, next to the pool entrance."])
    tier = LongTermTier(runtime.memories)
    await tier.recall(user.id, "What is my zqxlocker code?", now=datetime.now(UTC), exclude=(), limit=20)
    assert cached_texts() > 0
    turn = next(m for m in await runtime.memories.list_memories(user.id) if "zqxlocker" in m.text)
    await runtime.memories.forget(user.id, [turn.id])
    assert cached_texts() == 0
