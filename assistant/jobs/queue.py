"""The job queue: procrastinate's app over the shared Postgres pool, its tasks, and the workers that run them.

A worker runs in the web app's own process by default (``ASSISTANT_WORKERS=in-process``) or in separate
``assistant worker`` processes (``external``); either way jobs live in Postgres, so any number of workers share
them. Workers beat a heartbeat; the jobs of one silent for three beats (killed, frozen) are queued again by the
next worker that looks, and the handlers' idempotence makes the second run change nothing the first one did.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from procrastinate import App, PsycopgConnector, RetryStrategy
from psycopg_pool import AsyncConnectionPool

from assistant.jobs import kinds
from assistant.jobs.handlers import Handlers
from assistant.pipeline.extraction import TRANSIENT
from assistant.settings import Settings
from memory.job_queue import JobRequest, JobRows
from memory.long_term.forgetting import Forgotten

log = logging.getLogger("assistant.jobs")


class JobQueue:
    def __init__(self, pool: AsyncConnectionPool, database_url: str, settings: Settings, handlers: Handlers) -> None:
        self.rows = JobRows(pool)
        self.concurrency = settings.worker_concurrency
        self.heartbeat_s = settings.worker_heartbeat_s
        # Its own few connections (fetching, finishing, heartbeats, LISTEN): the stores' pool stays for the work.
        self.app = App(
            connector=PsycopgConnector(conninfo=database_url, min_size=1, max_size=2 + settings.worker_concurrency // 2)
        )
        retry = RetryStrategy(
            max_attempts=settings.job_attempts - 1,  # procrastinate counts the retries after the first run
            exponential_wait=settings.job_retry_wait_s,
            retry_exceptions=TRANSIENT,  # a bug fails at once: another attempt would fail the same way
        )
        tasks: dict[str, Callable[..., Awaitable[Any]]] = {
            kinds.EMBED_TURN: handlers.embed_turn,
            kinds.EXTRACT_FACTS: handlers.extract_facts,
            kinds.SUMMARIZE: handlers.summarize,
            kinds.BACKFILL: handlers.backfill,
            kinds.EMBED_DOCUMENT: handlers.embed_document,
            kinds.REEMBED: handlers.reembed,
        }
        for name, handler in tasks.items():
            self.app.task(name=name, queue=kinds.QUEUES[name], retry=retry)(handler)
        self._opened = False
        self._running: asyncio.Task[None] | None = None

    async def _open(self) -> None:
        if not self._opened:
            await self.app.open_async()
            self._opened = True

    async def defer(self, jobs: Sequence[JobRequest]) -> None:
        await self.rows.defer(jobs)

    async def run(
        self,
        *,
        wait: bool = True,
        concurrency: int | None = None,
        name: str = "worker",
        queues: Sequence[str] | None = None,
    ) -> None:
        """Run jobs until stopped (``wait``) or until none is ready; jobs of dead workers are taken over."""
        await self._open()
        await self.recover_stalled()
        options: dict[str, Any] = {
            "wait": wait,
            "concurrency": concurrency or self.concurrency,
            "name": name,
            "install_signal_handlers": False,
            "listen_notify": wait,
            "fetch_job_polling_interval": self.heartbeat_s,
            "update_heartbeat_interval": self.heartbeat_s,
            "stalled_worker_timeout": 3 * self.heartbeat_s,
            "delete_jobs": "never",
        }
        if queues:
            options["queues"] = list(queues)
        if not wait:
            await self.app.run_worker_async(**options)
            return
        watcher = asyncio.create_task(self._watch_stalled(), name="stalled-job-watcher")
        try:
            await self.app.run_worker_async(**options)
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)

    async def recover_stalled(self) -> int:
        """Queue again the jobs of workers silent for three heartbeats; returns how many."""
        await self._open()
        stalled = list(await self.app.job_manager.get_stalled_jobs(seconds_since_heartbeat=3 * self.heartbeat_s))
        for job in stalled:
            log.warning("job %s (%s) was left by a worker that stopped answering; queued again", job.id, job.task_name)
            await self.app.job_manager.retry_job(job)
        return len(stalled)

    async def _watch_stalled(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            try:
                await self.recover_stalled()
            except Exception as exc:  # the store is restarting: the next look tries again
                log.warning("looking for stalled jobs failed: %s", exc)

    def start(self) -> None:
        """Run a worker inside this process (the single-machine default)."""
        if self._running is None:
            self._running = asyncio.create_task(self._supervised(), name="job-worker")

    async def _supervised(self) -> None:
        while True:
            try:
                await self.run(wait=True, name="in-process")
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the in-process job worker stopped; restarting it")
                await asyncio.sleep(1)

    async def stop(self) -> None:
        if self._running is not None:
            self._running.cancel()  # procrastinate stops fetching and lets running jobs finish
            with contextlib.suppress(asyncio.CancelledError):
                await self._running
            self._running = None

    async def close(self) -> None:
        await self.stop()
        if self._opened:
            await self.app.close_async()
            self._opened = False

    async def drain(self, *, poll_s: float = 0.05) -> None:
        """Until no job waits or runs: run what is ready here, wait for what runs elsewhere (retries included)."""
        while await self.rows.waiting():
            if await self.rows.ready():
                await self.run(wait=False, name="drain")
            else:  # running in another worker (or left by a dead one), or a retry waiting its turn
                await asyncio.sleep(poll_s)
                await self.recover_stalled()

    async def drop_forgotten(self, forgotten: Forgotten) -> int:
        return await self.rows.drop_forgotten(kinds.ABOUT_TURNS, forgotten)
