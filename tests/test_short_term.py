from collections.abc import Callable

import pytest
import redis.asyncio as aioredis

from assistant.pipeline.turn import TurnFinished
from assistant.providers.fake import FakeChatModel
from assistant.providers.tokens import TokenCounter
from assistant.runtime import Runtime
from memory.conversations import Thread

MakeRuntime = Callable[..., Runtime]


async def _talk(runtime: Runtime, thread: Thread, text: str) -> TurnFinished:
    events = [event async for event in runtime.pipeline.run(thread, text)]
    finished = events[-1]
    assert isinstance(finished, TurnFinished)
    return finished


async def test_flushing_redis_mid_conversation_is_invisible(
    make_runtime: MakeRuntime, redis: aioredis.Redis, redis_prefix: str
) -> None:
    kept, flushed = FakeChatModel(), FakeChatModel()
    runtime_kept = make_runtime(kept, short_term_turns=6, summary_batch=2)
    runtime_flushed = make_runtime(flushed, short_term_turns=6, summary_batch=2)
    # Two users, so that long-term memory of one conversation does not show up in the other.
    ann = await runtime_kept.conversations.ensure_user("ann")
    bob = await runtime_kept.conversations.ensure_user("bob")
    thread_a = await runtime_kept.conversations.create_thread(ann.id)
    thread_b = await runtime_kept.conversations.create_thread(bob.id)
    for turn in range(10):
        await _talk(runtime_kept, thread_a, f"message number {turn}")
        await runtime_kept.drain()
        if turn in (4, 7):  # Redis loses everything, e.g. a restart without persistence
            keys = [key async for key in redis.scan_iter(f"{redis_prefix}:*")]
            await redis.delete(*keys)
        await _talk(runtime_flushed, thread_b, f"message number {turn}")
        await runtime_flushed.drain()
    for index, (a, b) in enumerate(zip(kept.received, flushed.received, strict=True)):
        assert a == b, f"turn {index}:\n{a}\n---\n{b}"
    assert any("Summary of the earlier part" in m[0].content for m in flushed.received)


@pytest.mark.slow
async def test_hundreds_of_turns_keep_working_in_a_1024_token_window(make_runtime: MakeRuntime) -> None:
    model = FakeChatModel()
    runtime = make_runtime(model, max_input_tokens=1024, summary_tokens=120)
    user = await runtime.conversations.ensure_user("ann")
    thread = await runtime.conversations.create_thread(user.id)
    counter = TokenCounter(model.name)
    budget = runtime.context.budget(1024)
    for turn in range(150):
        finished = await _talk(runtime, thread, f"turn {turn}: my favourite number today is {turn * 7}.")
        await runtime.drain()
        assert counter.messages(model.received[-1]) <= budget.total
        assert finished.report.used <= budget.total
    last = finished.report.tier("short_term")
    assert [i.kind for i in last.items].count("summary") == 1
    assert sum(1 for i in last.items if i.kind == "turn") >= 2
    summary = await runtime.short_term.summaries.get(thread)
    assert summary is not None and summary.covers_through_seq > 200
    assert len(await runtime.conversations.messages(thread)) == 300  # the log keeps every message


async def test_turns_wait_in_redis_past_the_window_until_a_batch_is_summarised(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime(FakeChatModel(), short_term_turns=4, summary_batch=3)
    user = await runtime.conversations.ensure_user("ann")
    thread = await runtime.conversations.create_thread(user.id)
    for turn in (1, 2, 3):
        await _talk(runtime, thread, f"message number {turn}")
        await runtime.drain()
    # Six messages: two have left the four-message window, one short of a batch.
    assert await runtime.short_term.summaries.get(thread) is None
    assert await runtime.short_term.unsummarized(thread) == 6
    state = await runtime.short_term.load(thread)
    assert state.turns[0].content == "message number 2"
    assert len(state.turns) == 4

    await _talk(runtime, thread, "message number 4")
    await runtime.drain()
    summary = await runtime.short_term.summaries.get(thread)
    messages = await runtime.conversations.messages(thread)
    assert summary is not None and summary.covers_through_seq == messages[3].seq
    assert await runtime.short_term.unsummarized(thread) == 4
    assert [t.seq for t in (await runtime.short_term.load(thread)).turns] == [m.seq for m in messages[4:]]
