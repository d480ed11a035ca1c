"""`assistant bench context`: how long assembling a turn's context takes, model call excluded."""

from __future__ import annotations

import time
import uuid
from typing import Any

from assistant.bench.stats import machine, summary
from assistant.heap import settle_heap
from assistant.pipeline.turn import TurnFinished
from assistant.providers.fake import FakeChatModel
from assistant.runtime import Runtime
from assistant.settings import NO_RATE_LIMITS, Settings

SENTENCES = [
    "I moved to Lisbon last spring and I am still learning Portuguese.",
    "My sister Ana is getting married in October, so I need a suit.",
    "Remind me that the dentist appointment is on the 14th at nine.",
    "I have been training for a half marathon; my best time is 1:52.",
    "We adopted a grey cat called Pixel from the shelter on Friday.",
    "At work I am migrating our billing service from Java to Kotlin.",
    "Can you suggest a vegetarian dinner that takes under thirty minutes?",
    "I prefer trains to planes when the trip is shorter than six hours.",
]


async def run_context_bench(settings: Settings, *, turns: int, window: int | None) -> dict[str, Any]:
    """Chat ``turns`` turns with the fake model in a throwaway user's thread; time each phase."""
    config = settings.model_copy(
        update={"model": "fake", "max_input_tokens": window or settings.max_input_tokens} | NO_RATE_LIMITS
    )
    runtime = await Runtime.start(config, model=FakeChatModel(context_window=window or 8192))
    settle_heap()  # as the app does once started
    user = await runtime.conversations.ensure_user(f"bench-{uuid.uuid4().hex[:8]}")
    assembly: list[float] = []
    added: list[float] = []
    try:
        thread = await runtime.conversations.create_thread(user.id, title="context benchmark")
        for turn in range(turns):
            text = f"{SENTENCES[turn % len(SENTENCES)]} (turn {turn})"
            started = time.perf_counter()
            finished = None
            async for event in runtime.pipeline.run(thread, text):
                if isinstance(event, TurnFinished):
                    finished = event
            elapsed = (time.perf_counter() - started) * 1000
            await runtime.drain()
            assert finished is not None
            timings = finished.report.timings_ms
            assembly.append(timings["load_short_term"] + timings["retrieve"] + timings["assemble"])
            added.append(elapsed - timings.get("model", 0.0))
        return {
            "benchmark": "context",
            "turns": turns,
            "window": runtime.window,
            "context_assembly_ms": summary(assembly),
            "turn_without_model_ms": summary(added),
            "machine": machine(),
        }
    finally:
        await runtime.short_term.forget_user(user.id)
        await runtime.conversations.delete_user(user.id)
        await runtime.close()
