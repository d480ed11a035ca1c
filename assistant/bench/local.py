"""`assistant bench local`: the offline default model in the real turn pipeline, on fixed prompts.

Per prompt: tokens, time to the first token, total time, and how the reply ended: by itself, at the answer limit,
or where it began to repeat itself (assistant/providers/repeat_guard.py).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from assistant.bench.stats import machine
from assistant.pipeline.turn import ReplyDelta, TurnFinished
from assistant.providers.repeat_guard import REPEAT
from assistant.reply_notes import hit_cap
from assistant.runtime import Runtime
from assistant.settings import LOCAL_MODEL, NO_RATE_LIMITS, Settings

# What a new user types in their first minutes; asked in this order in one conversation.
PROMPTS = (
    "Reply with just OK.",
    "What is the capital of France?",
    "Hi! Who are you?",
    "Give me three tips for a first trip to Tokyo.",
    "In one sentence: why is the sky blue?",
    "Summarise: the ferry to Naxos leaves at 07:30 from gate E7; tickets are sold at the port.",
    "Hi! I'm Dana. I keep bees on my roof in Lisbon, and my sister Ines visits every August.",
)


@dataclass(frozen=True)
class PromptResult:
    prompt: str
    tokens: int | None
    first_token_s: float | None
    total_s: float
    ended: str  # "by itself", "at the limit" or "at a repeat"
    reply: str
    round: int = 1


async def run_local_bench(settings: Settings, prompts: tuple[str, ...] = PROMPTS, rounds: int = 1) -> dict[str, Any]:
    """Chat the prompts in one thread of a new throwaway user per round, with the local model and every memory tier
    on. Sampling is random, so a loop shows in some rounds and not in others: more rounds, a steadier count."""
    started = time.perf_counter()
    runtime = await Runtime.start(settings.model_copy(update={"model": LOCAL_MODEL} | NO_RATE_LIMITS))
    load_s = time.perf_counter() - started
    users: list[uuid.UUID] = []
    results: list[PromptResult] = []
    try:
        for round_ in range(1, rounds + 1):
            user = await runtime.conversations.ensure_user(f"bench-{uuid.uuid4().hex[:8]}")
            users.append(user.id)
            thread = await runtime.conversations.create_thread(user.id, title="local model benchmark")
            for prompt in prompts:
                results.append(await _ask(runtime, thread, prompt, round_))
        return {
            "benchmark": "local",
            "model": runtime.model.name,
            "answer_tokens": runtime.context.answer_tokens,
            "start_s": round(load_s, 2),
            "rounds": rounds,
            "ended": {how: sum(r.ended == how for r in results) for how in ENDINGS},
            "prompts": [asdict(r) for r in results],
            "machine": machine(),
        }
    finally:
        for user_id in users:
            await runtime.short_term.forget_user(user_id)
            await runtime.conversations.delete_user(user_id)
        await runtime.close()


ENDINGS = ("by itself", "at the limit", "at a repeat")


async def _ask(runtime: Runtime, thread: Any, prompt: str, round_: int) -> PromptResult:
    begun = time.perf_counter()
    first: float | None = None
    finished: TurnFinished | None = None
    async for event in runtime.pipeline.run(thread, prompt):
        if isinstance(event, ReplyDelta) and first is None:
            first = time.perf_counter() - begun
        elif isinstance(event, TurnFinished):
            finished = event
    total = time.perf_counter() - begun
    await runtime.drain()  # the rolling summary, off the reply path as in the app
    assert finished is not None
    reply = finished.reply
    usage = reply.usage or {}
    ended = ENDINGS[1] if hit_cap(reply) else ENDINGS[2] if usage.get("finish_reason") == REPEAT else ENDINGS[0]
    return PromptResult(
        prompt,
        usage.get("completion_tokens"),
        round(first, 2) if first is not None else None,
        round(total, 2),
        ended,
        reply.content,
        round_,
    )
