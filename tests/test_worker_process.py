"""`assistant worker` processes: a job held by a worker killed mid-job is taken over by another and done once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from assistant.embedded import manager
from assistant.jobs.kinds import EMBED_TURN, job
from assistant.providers.fake import FakeChatModel
from assistant.runtime import Runtime

MakeRuntime = Callable[..., Runtime]
HEARTBEAT_S = 0.5


@pytest.fixture
def worker_env(database_url: str, services: manager.Endpoints, redis_prefix: str, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "ASSISTANT_DATABASE_URL": database_url,
        "ASSISTANT_REDIS_URL": services.redis_url,
        "ASSISTANT_REDIS_PREFIX": redis_prefix,
        "ASSISTANT_DATA_DIR": str(tmp_path / "data"),
        "ASSISTANT_MODEL": "fake",
        "ASSISTANT_EMBEDDER": "hash",
        "ASSISTANT_WORKER_HEARTBEAT_S": str(HEARTBEAT_S),
    }


@pytest.fixture
def spawn(worker_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[[str], subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(name: str) -> subprocess.Popen[bytes]:
        log = (tmp_path / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "assistant.cli.main", "worker", "--concurrency", "2"],
            env=worker_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        started.append(process)
        return process

    yield start
    for process in started:  # also on failure: no worker outlives its test
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


async def _job_state(database_url: str, job_id: int) -> tuple[str, int | None, int]:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        row = await (
            await conn.execute(
                "SELECT status::text, worker_id, attempts FROM procrastinate_jobs WHERE id = %s", (job_id,)
            )
        ).fetchone()
    assert row is not None
    return str(row[0]), row[1], int(row[2])


async def _until(check: Callable[[], object], what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():  # type: ignore[misc]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def test_a_job_of_a_killed_worker_is_finished_once_by_another(
    make_runtime: MakeRuntime, database_url: str, spawn: Callable[[str], subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    runtime = make_runtime(FakeChatModel())
    user = await runtime.conversations.ensure_user("ann")
    thread = await runtime.conversations.create_thread(user.id)
    message = await runtime.conversations.append_message(thread, "user", "A turn to remember.", jobs=[job(EMBED_TURN)])
    [queued] = await runtime.jobs.rows.list(status="todo")

    # The turn's row is held, so the first worker's job blocks mid-way, between reading and storing.
    async with await psycopg.AsyncConnection.connect(database_url) as holder:
        await holder.execute("SELECT 1 FROM messages WHERE id = %s FOR UPDATE", (message.id,))
        first = spawn("first")

        async def taken() -> bool:
            status, worker, _ = await _job_state(database_url, queued.id)
            return status == "doing" and worker is not None

        await _until(taken, "the first worker to take the job")
        await asyncio.sleep(1.0)  # well inside the job: its episodic write waits on the held row
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        await holder.rollback()

    second = spawn("second")
    try:

        async def done() -> bool:
            return (await _job_state(database_url, queued.id))[0] == "succeeded"

        await _until(done, "the second worker to finish the job")
    finally:
        second.send_signal(signal.SIGTERM)  # a graceful stop: the jobs in hand finish, then it exits
        assert second.wait(timeout=60) == 0, (tmp_path / "second.log").read_text()

    status, _, attempts = await _job_state(database_url, queued.id)
    assert status == "succeeded" and attempts == 2  # the killed run, then the one that finished
    episodic = [m for m in await runtime.memories.list_memories(user.id, limit=50) if m.message_id == message.id]
    assert len(episodic) == 1  # exactly once in effect
    log = (tmp_path / "second.log").read_text()
    assert "queued again" in log and "stopped" in log
