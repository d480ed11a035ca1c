"""`assistant bench load`: many simulated users chatting at once through the full turn pipeline.

Every user chats in a thread of their own with the fake model (streaming a fixed
number of tokens at a fixed delay each), pausing between turns as a person
would; all of them share one process, one event loop, one connection pool and
the real stores, as the app's users do. The latency that counts is what the
app adds: a turn's wall time minus the model's own streaming time (tokens times
the per-token delay), so event-loop lag under load is charged to the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psutil

from assistant.bench.context import SENTENCES
from assistant.bench.stats import machine, summary
from assistant.heap import settle_heap
from assistant.pipeline.turn import ReplyDelta, TurnFinished
from assistant.providers.base import ChatMessage
from assistant.providers.fake import FakeChatModel
from assistant.runtime import Runtime
from assistant.settings import NO_RATE_LIMITS, Settings
from memory.errors import InvalidInputError, describe

Progress = Callable[[str, int, int], None]
TARGET_P95_MS = 100.0
RAMP_START = 10
SAMPLE_EVERY_S = 0.25
MAX_ERROR_SAMPLES = 5
# The context manager's own timings (its report): where the time before the first token goes.
CONTEXT_STAGES = ("load_short_term", "retrieve", "assemble")


REPLY_PROSE = (
    "That sounds like a good plan, and I will keep it in mind for next time. "
    "If you want, we can go through the details together step by step, starting with what matters most to you. "
    "Tell me when you have news and I will help you adjust the schedule around the rest of your week."
).split()


def scripted_reply(tokens: int) -> Callable[[Sequence[ChatMessage]], str]:
    """A reply of ``tokens`` words of ordinary prose (the fake model streams one word per step).

    Prose, not numbered placeholders: embedding the stored reply costs what a real reply's would.
    """

    def reply(messages: Sequence[ChatMessage]) -> str:
        return " ".join(REPLY_PROSE[n % len(REPLY_PROSE)] for n in range(tokens))

    return reply


@dataclass
class _Level:
    """What one run at a given number of users measured."""

    added_ms: list[float] = field(default_factory=list)
    first_token_added_ms: list[float] = field(default_factory=list)
    after_last_token_ms: list[float] = field(default_factory=list)
    stages_ms: dict[str, list[float]] = field(default_factory=dict)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    turns: int = 0
    rss_peak: int = 0

    def fail(self, what: str) -> None:
        self.errors += 1
        if len(self.error_samples) < MAX_ERROR_SAMPLES:
            self.error_samples.append(what)


@dataclass(frozen=True)
class LoadPlan:
    users: int
    turns: int
    think_s: float = 5.0
    token_delay_s: float = 0.02
    reply_tokens: int = 50
    seed: int = 0


async def _sample_rss(level: _Level, stop: asyncio.Event) -> None:
    process = psutil.Process()
    while not stop.is_set():
        level.rss_peak = max(level.rss_peak, process.memory_info().rss)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), SAMPLE_EVERY_S)


async def _one_user(
    runtime: Runtime, plan: LoadPlan, number: int, tag: str, level: _Level, tick: Callable[[], None]
) -> uuid.UUID:
    rng = random.Random(plan.seed * 100_003 + number)
    user = await runtime.conversations.ensure_user(f"bench-load-{tag}-{number}")
    thread = await runtime.conversations.create_thread(user.id, title="load benchmark")
    # Users arrive spread over one pause, not all in the same instant.
    await asyncio.sleep(rng.uniform(0, plan.think_s))
    for turn in range(plan.turns):
        if turn:
            await asyncio.sleep(plan.think_s)
        text = f"{SENTENCES[rng.randrange(len(SENTENCES))]} (user {number}, turn {turn})"
        started = time.perf_counter()
        first: float | None = None
        last = started
        deltas = 0
        finished = False
        try:
            async for event in runtime.pipeline.run(thread, text):
                if isinstance(event, ReplyDelta):
                    deltas += 1
                    last = time.perf_counter()
                    if first is None:
                        first = last
                elif isinstance(event, TurnFinished):
                    finished = True
                    for stage in CONTEXT_STAGES:
                        if stage in event.report.timings_ms:
                            level.stages_ms.setdefault(stage, []).append(event.report.timings_ms[stage])
            if not finished:
                raise RuntimeError("the turn ended without a stored reply")
        except Exception as exc:  # counted and reported: the figure the benchmark exists for
            level.fail(f"{type(exc).__name__}: {describe(exc)}")
            tick()
            continue
        ended = time.perf_counter()
        elapsed = (ended - started) * 1000
        level.after_last_token_ms.append((ended - last) * 1000)
        level.added_ms.append(elapsed - deltas * plan.token_delay_s * 1000)
        if first is not None:
            level.first_token_added_ms.append((first - started) * 1000 - plan.token_delay_s * 1000)
        level.turns += 1
        tick()
    return user.id


async def run_level(runtime: Runtime, plan: LoadPlan, progress: Progress | None = None) -> dict[str, Any]:
    """``plan.users`` users chatting ``plan.turns`` turns each, all at once; their users are deleted afterwards."""
    level = _Level()
    tag = uuid.uuid4().hex[:8]
    total = plan.users * plan.turns
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress:
            progress(f"{plan.users} users", done, total)

    stop = asyncio.Event()
    sampler = asyncio.create_task(_sample_rss(level, stop))
    rss_start = psutil.Process().memory_info().rss
    started = time.perf_counter()
    outcomes = await asyncio.gather(
        *(_one_user(runtime, plan, n, tag, level, tick) for n in range(plan.users)), return_exceptions=True
    )
    wall = time.perf_counter() - started
    await runtime.drain()  # memory writes and summaries finish before the next level
    memory_lag = time.perf_counter() - started - wall
    stop.set()
    await sampler
    redis_info = await runtime.redis.info("memory")
    for failure in (o for o in outcomes if isinstance(o, BaseException)):
        level.fail(f"user setup: {type(failure).__name__}: {failure}")
    for user_id in (o for o in outcomes if isinstance(o, uuid.UUID)):
        await runtime.short_term.forget_user(user_id)
        await runtime.conversations.delete_user(user_id)
    return {
        "users": plan.users,
        "turns": level.turns,
        "errors": level.errors,
        "error_samples": level.error_samples,
        "turns_per_s": round(level.turns / wall, 2) if wall > 0 else 0.0,
        "added_ms": summary(level.added_ms),
        "first_token_added_ms": summary(level.first_token_added_ms),
        "after_last_token_ms": summary(level.after_last_token_ms),
        "context_stages_ms": {stage: summary(values) for stage, values in level.stages_ms.items()},
        "wall_s": round(wall, 1),
        # How long memory writes (off the reply path) trailed the last turn.
        "memory_lag_s": round(memory_lag, 1),
        "rss_mb": {"start": _mb(rss_start), "peak": _mb(level.rss_peak)},
        "redis_used_mb": _mb(int(redis_info.get("used_memory", 0))),
    }


def _mb(size: int) -> float:
    return round(size / 2**20, 1)


def within_target(level: dict[str, Any], target_ms: float) -> bool:
    return bool(level["errors"] == 0 and level["turns"] > 0 and level["added_ms"]["p95"] <= target_ms)


async def find_max_users(
    runtime: Runtime, plan: LoadPlan, *, limit: int, target_ms: float, progress: Progress | None = None
) -> tuple[int | None, list[dict[str, Any]]]:
    """Double the users from ``RAMP_START`` while p95 added latency stays within target, then bisect twice."""
    levels: list[dict[str, Any]] = []

    async def measure(users: int) -> bool:
        result = await run_level(runtime, LoadPlan(**{**plan.__dict__, "users": users}), progress)
        levels.append(result)
        return within_target(result, target_ms)

    best: int | None = None
    users = min(RAMP_START, limit)
    failed: int | None = None
    while True:
        if await measure(users):
            best = users
            if users >= limit:
                break
            users = min(limit, users * 2)
        else:
            failed = users
            break
    if best is not None and failed is not None:
        low, high = best, failed
        for _ in range(2):
            middle = (low + high) // 2
            if middle in (low, high):
                break
            if await measure(middle):
                low = best = middle
            else:
                high = middle
    return best, levels


async def run_load_bench(
    settings: Settings,
    plan: LoadPlan,
    *,
    find_max: bool = False,
    max_users: int = 1000,
    ramp_turns: int = 5,
    target_ms: float = TARGET_P95_MS,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run ``plan``; with ``find_max``, also ramp up to the most users keeping p95 added latency within target."""
    if plan.users < 1 or plan.turns < 1:
        raise InvalidInputError("--users and --turns must be at least 1")
    config = settings.model_copy(update={"model": "fake", "memory_enabled": True} | NO_RATE_LIMITS)
    model = FakeChatModel(scripted_reply(plan.reply_tokens), token_delay_s=plan.token_delay_s)
    runtime = await Runtime.start(config, model=model)
    try:
        runtime.start_workers()  # background jobs run beside the turns, as in the app
        await runtime.memories.embedder.queries(["warm up"])  # load the embedder before the clock starts
        settle_heap()  # as the app does once started
        result: dict[str, Any] = {
            "benchmark": "load",
            "embedder": runtime.memories.embedder.name,
            "think_s": plan.think_s,
            "reply_tokens": plan.reply_tokens,
            "token_delay_ms": plan.token_delay_s * 1000,
            "target_p95_ms": target_ms,
            **await run_level(runtime, plan, progress),
            "turns_per_user": plan.turns,
        }
        if find_max:
            ramp = LoadPlan(**{**plan.__dict__, "turns": ramp_turns})
            best, levels = await find_max_users(runtime, ramp, limit=max_users, target_ms=target_ms, progress=progress)
            result["max_users_within_target"] = best
            result["ramp"] = [
                {
                    k: level[k]
                    for k in ("users", "turns", "errors", "turns_per_s", "added_ms", "first_token_added_ms", "rss_mb")
                }
                for level in levels
            ]
        result["machine"] = machine()
        return result
    finally:
        await runtime.close()
