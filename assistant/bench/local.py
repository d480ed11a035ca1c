"""`assistant bench local`: the offline default model in the real turn pipeline, on fixed prompts.

Per prompt: tokens, time to the first token, total time, and whether the model stopped by itself.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from assistant.bench.stats import machine
from assistant.pipeline.turn import ReplyDelta, TurnFinished
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
)


@dataclass(frozen=True)
class PromptResult:
    prompt: str
    tokens: int | None
    first_token_s: float | None
    total_s: float
    stopped_by_itself: bool
    reply: str


async def run_local_bench(settings: Settings, prompts: tuple[str, ...] = PROMPTS) -> dict[str, Any]:
    """Chat the prompts in one thread of a throwaway user, with the local model and every memory tier on."""
    started = time.perf_counter()
    runtime = await Runtime.start(settings.model_copy(update={"model": LOCAL_MODEL} | NO_RATE_LIMITS))
    load_s = time.perf_counter() - started
    user = await runtime.conversations.ensure_user(f"bench-{uuid.uuid4().hex[:8]}")
    results: list[PromptResult] = []
    try:
        thread = await runtime.conversations.create_thread(user.id, title="local model benchmark")
        for prompt in prompts:
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
            results.append(
                PromptResult(
                    prompt,
                    (reply.usage or {}).get("completion_tokens"),
                    round(first, 2) if first is not None else None,
                    round(total, 2),
                    not hit_cap(reply),
                    reply.content,
                )
            )
        return {
            "benchmark": "local",
            "model": runtime.model.name,
            "answer_tokens": runtime.context.answer_tokens,
            "start_s": round(load_s, 2),
            "prompts": [asdict(r) for r in results],
            "machine": machine(),
        }
    finally:
        await runtime.short_term.forget_user(user.id)
        await runtime.conversations.delete_user(user.id)
        await runtime.close()
