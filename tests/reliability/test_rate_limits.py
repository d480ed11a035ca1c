"""Per-user rate limits with real Redis: the limit hits at N+1, says when to retry, counts each user apart,
and the refused message stays stored and is answered by a retry."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import psycopg
import pytest
import redis.asyncio as aioredis

from assistant.pipeline.turn import TurnFinished
from assistant.providers.fake import FakeChatModel
from assistant.runtime import Runtime
from memory.errors import RateLimitError, describe
from memory.short_term.rate_limit import Limits, RateLimiter

MakeRuntime = Callable[..., Runtime]
NOON = datetime(2026, 3, 1, 12, 0, 15, tzinfo=UTC).timestamp()  # 15 s into a minute, 12 h before midnight


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_the_turn_limit_hits_at_n_plus_1_per_user(redis: aioredis.Redis, redis_prefix: str) -> None:
    clock = Clock(NOON)
    limiter = RateLimiter(redis, redis_prefix, Limits(turns_per_minute=3, turns_per_day=0), clock=clock)
    ann, bob = uuid.uuid4(), uuid.uuid4()
    for _ in range(3):
        await limiter.admit_turn(ann)
    with pytest.raises(RateLimitError) as refused:
        await limiter.admit_turn(ann)
    assert refused.value.retry_after_s == pytest.approx(45)
    assert describe(refused.value) == (
        "you have sent 3 messages this minute, the most allowed; try again in 45 s (your message is saved)"
    )
    await limiter.admit_turn(bob)  # another user's count is their own
    assert (await limiter.usage(ann))["turns_this_minute"] == 3  # a refused turn is not counted
    clock.now += 45
    await limiter.admit_turn(ann)  # the next minute
    assert (await limiter.usage(ann))["turns_this_minute"] == 1
    keys = [key async for key in redis.scan_iter(f"{redis_prefix}:rate:*")]
    ttls = [await redis.ttl(key) for key in keys]
    assert ttls and all(0 < ttl <= 2 * 24 * 3600 for ttl in ttls)


async def test_the_daily_turn_and_token_limits_wait_for_midnight(redis: aioredis.Redis, redis_prefix: str) -> None:
    clock = Clock(NOON)
    limiter = RateLimiter(
        redis, redis_prefix, Limits(turns_per_minute=0, turns_per_day=2, tokens_per_day=1000), clock=clock
    )
    ann, bob = uuid.uuid4(), uuid.uuid4()
    await limiter.admit_turn(ann)
    await limiter.admit_turn(ann)
    with pytest.raises(RateLimitError, match="2 messages today") as refused:
        await limiter.admit_turn(ann)
    assert refused.value.retry_after_s == pytest.approx(12 * 3600 - 15)
    assert "try again in 11 h 60 min" not in describe(refused.value)
    assert "try again in 12 h 00 min" in describe(refused.value)
    tokens = RateLimiter(redis, redis_prefix, Limits(0, 0, tokens_per_day=1000), clock=clock)
    await tokens.admit_turn(bob)
    await tokens.spend_tokens(bob, 999)
    await tokens.admit_turn(bob)
    await tokens.spend_tokens(bob, 1)
    with pytest.raises(RateLimitError, match="today's 1,000 model tokens"):
        await tokens.admit_turn(bob)
    await tokens.admit_turn(ann)
    clock.now += 12 * 3600  # past midnight UTC: a new day
    await limiter.admit_turn(ann)
    await tokens.admit_turn(bob)


async def test_limits_off_touch_nothing_and_a_lost_redis_lets_turns_through(
    redis: aioredis.Redis, redis_prefix: str
) -> None:
    off = RateLimiter(redis, redis_prefix, Limits(0, 0, 0))
    for _ in range(100):
        await off.admit_turn(uuid.uuid4())
    assert [key async for key in redis.scan_iter(f"{redis_prefix}:rate:*")] == []
    gone = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    try:
        await RateLimiter(gone, redis_prefix, Limits(turns_per_minute=1)).admit_turn(uuid.uuid4())
    finally:
        await gone.aclose()


async def test_a_refused_turn_keeps_the_message_and_a_retry_answers_it(
    make_runtime: MakeRuntime, pool: object, database_url: str
) -> None:
    model = FakeChatModel()
    runtime = make_runtime(model, rate_turns_per_minute=2, rate_tokens_per_day=0)
    clock = Clock(NOON)
    assert runtime.pipeline.limits is not None
    runtime.pipeline.limits.clock = clock
    ann = await runtime.conversations.ensure_user("ann")
    bob = await runtime.conversations.ensure_user("bob")
    thread = await runtime.conversations.create_thread(ann.id)
    for text in ("first question", "second question"):
        _ = [event async for event in runtime.pipeline.run(thread, text)]
    with pytest.raises(RateLimitError, match="try again in 45 s") as refused:
        _ = [event async for event in runtime.pipeline.run(thread, "third question, refused")]
    assert len(model.received) == 2  # the model was not called
    stored = await runtime.conversations.messages(thread)
    assert [(m.role, m.content) for m in stored][-1] == ("user", "third question, refused")
    assert refused.value.message_id == stored[-1].id

    # Another user is not held back; a pipeline with other choices shares the same counts.
    bobs = await runtime.conversations.create_thread(bob.id)
    _ = [event async for event in runtime.turn_pipeline(answer_tokens=64).run(bobs, "bob's turn")]
    with pytest.raises(RateLimitError):
        _ = [event async for event in runtime.turn_pipeline(answer_tokens=64).answer(thread, stored[-1])]

    clock.now += 45
    events = [event async for event in runtime.pipeline.answer(thread, stored[-1])]
    assert isinstance(events[-1], TurnFinished)
    sent = " ".join(m.content for m in model.received[-1] if m.role == "user")
    assert sent.count("third question, refused") == 1
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT role, content FROM messages WHERE thread_id = %s ORDER BY seq", (thread.id,)
        ).fetchall()
    assert [r[0] for r in rows] == ["user", "assistant", "user", "assistant", "user", "assistant"]
    assert sum(1 for r in rows if r[1] == "third question, refused") == 1


async def test_tokens_are_counted_from_each_reply(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime(FakeChatModel(), rate_tokens_per_day=10_000_000)
    ann = await runtime.conversations.ensure_user("ann")
    thread = await runtime.conversations.create_thread(ann.id)
    events = [event async for event in runtime.pipeline.run(thread, "count my tokens")]
    assert isinstance(events[-1], TurnFinished)
    assert runtime.pipeline.limits is not None
    usage = await runtime.pipeline.limits.usage(ann.id)
    reply = events[-1].reply.usage or {}
    assert usage["tokens_today"] == int(reply["prompt_tokens"] or 0) + int(reply["completion_tokens"] or 0) > 0


@pytest.mark.usefixtures("store_env")
def test_the_cli_says_when_to_retry() -> None:
    env = dict(os.environ, ASSISTANT_RATE_TURNS_PER_DAY="1")
    chat = [sys.executable, "-m", "assistant.cli.main", "chat", "--user", "ann", "--thread", "t"]
    assert subprocess.run([*chat, "first"], env=env, capture_output=True, timeout=120).returncode == 0
    refused = subprocess.run([*chat, "second"], env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1
    assert "you have sent 1 message today" in refused.stderr and "try again in" in refused.stderr
    assert "your message is saved" in refused.stderr and "Traceback" not in refused.stderr
    with psycopg.connect(os.environ["ASSISTANT_DATABASE_URL"]) as conn:
        contents = [r[0] for r in conn.execute("SELECT content FROM messages ORDER BY created_at").fetchall()]
    assert contents[-1] == "second"


async def test_the_next_turn_after_a_refusal_sees_the_unanswered_message(make_runtime: MakeRuntime) -> None:
    model = FakeChatModel()
    runtime = make_runtime(model, rate_turns_per_minute=1)
    clock = Clock(NOON)
    assert runtime.pipeline.limits is not None
    runtime.pipeline.limits.clock = clock
    ann = await runtime.conversations.ensure_user("ann")
    thread = await runtime.conversations.create_thread(ann.id)
    _ = [event async for event in runtime.pipeline.run(thread, "first")]
    with pytest.raises(RateLimitError):
        _ = [event async for event in runtime.pipeline.run(thread, "the refused one")]
    clock.now += 60
    _ = [event async for event in runtime.pipeline.run(thread, "the next one")]
    sent = [m.content for m in model.received[-1] if m.role == "user"]
    assert sent[-2:] == ["the refused one", "the next one"]
