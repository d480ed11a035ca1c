"""`assistant bench queue`: what the job queue costs and how fast it recovers.

Three figures, on the real stores with the hash embedder (the queue's own cost, not the embedding's):
- the time a message's jobs add to the statement that stores it (stored with and without them, alternating);
- jobs per second through one worker (episodic memory of stored turns, the handler the app runs most);
- how long a job held by a worker that stopped answering waits before another worker finishes it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from assistant.bench.stats import machine, summary
from assistant.jobs.kinds import EMBED_TURN, job
from assistant.providers.fake import FakeChatModel
from assistant.runtime import Runtime
from assistant.settings import Settings
from memory.errors import InvalidInputError


async def run_queue_bench(settings: Settings, *, messages: int = 500, concurrency: int = 16) -> dict[str, Any]:
    if messages < 10:
        raise InvalidInputError("--messages must be at least 10")
    config = settings.model_copy(update={"model": "fake", "embedder": "hash", "workers": "external"})
    runtime = await Runtime.start(config, model=FakeChatModel())
    try:
        user = await runtime.conversations.ensure_user(f"bench-queue-{time.time_ns()}")
        thread = await runtime.conversations.create_thread(user.id)
        plain: list[float] = []
        with_job: list[float] = []
        for i in range(messages):
            jobs = [job(EMBED_TURN)] if i % 2 else []
            started = time.perf_counter()
            await runtime.conversations.append_message(thread, "user", f"Turn {i} of the queue benchmark.", jobs=jobs)
            (with_job if jobs else plain).append((time.perf_counter() - started) * 1000)
        waiting = await runtime.jobs.rows.waiting()

        started = time.perf_counter()
        await runtime.jobs.run(wait=False, concurrency=concurrency, name="bench")
        await runtime.episodic.flush()
        elapsed = time.perf_counter() - started

        takeover = await _takeover_s(runtime, thread_user=user.id)
        store_ms, job_ms = summary(plain), summary(with_job)
        return {
            "benchmark": "queue",
            "messages": messages,
            "store_ms": store_ms,
            "store_with_job_ms": job_ms,
            "added_ms_p50": round(job_ms["p50"] - store_ms["p50"], 2),
            "jobs_run": waiting,
            "concurrency": concurrency,
            "jobs_per_s": round(waiting / elapsed, 1),
            "heartbeat_s": config.worker_heartbeat_s,
            "takeover_s": round(takeover, 1),
            "machine": machine(),
        }
    finally:
        await runtime.close()


async def _takeover_s(runtime: Runtime, *, thread_user: object) -> float:
    """A job taken by a worker that then says nothing more (as a killed one): seconds until another finishes it."""
    thread = (await runtime.conversations.list_threads(thread_user, limit=1))[0]  # type: ignore[arg-type]
    await runtime.conversations.append_message(thread, "user", "A turn whose worker dies.", jobs=[job(EMBED_TURN)])
    manager = runtime.jobs.app.job_manager
    dead = await manager.register_worker()
    taken = await manager.fetch_job(queues=None, worker_id=dead)
    assert taken is not None and taken.id is not None
    started = time.perf_counter()
    worker = asyncio.create_task(runtime.jobs.run(wait=True, name="rescuer"))
    try:
        while True:
            if (await manager.get_job_status_async(taken.id)).value == "succeeded":
                return time.perf_counter() - started
            await asyncio.sleep(0.05)
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
