"""Two web instances behind nginx and two `assistant worker` processes, one of them killed mid-job (inside a
fact extraction, or inside a summary fold).

One Postgres and one Redis; both instances run no jobs (ASSISTANT_WORKERS=external); the workers' fake model
answers extraction and summary prompts deterministically (ASSISTANT_FAKE_SCRIPT=memory) and slowly enough that
a job is caught inside its model call. The conversation goes through nginx only: the same user signs in twice
(two devices), and logins are made until one login's cookie hashes to each instance; the turns alternate
between the two cookies on one thread. At the end the queue is empty and every message, episodic memory,
extracted fact and summary line exists exactly once.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import httpx
import psycopg
import pytest

from assistant.bench.remote import ChatClient, login_cookie
from assistant.embedded.manager import Endpoints
from tests.browser.conftest import AppServer, _app_env, _free_port
from tests.nginx_proxy import UPSTREAM_HEADER, Nginx, nginx_binary

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(nginx_binary() is None, reason="Debian's nginx is not installed (scripts/test.sh installs it)"),
]

EXTRACT, SUMMARIZE = "You read one exchange", "You keep a running summary"  # prompts/extract.md, summarize.md
T = TypeVar("T")
PASSWORD = "correct horse battery"
TURNS = 10
KILL_AFTER_TURN = 4
SHARED = {
    "ASSISTANT_AUTH": "password",
    "ASSISTANT_WORKERS": "external",
    "ASSISTANT_EXTRACTION": "on",
    "ASSISTANT_EMBEDDER": "hash",
    "ASSISTANT_FAKE_SCRIPT": "memory",
    "ASSISTANT_SHORT_TERM_TURNS": "4",  # a window of four messages, folded two at a time: several summaries
    "ASSISTANT_SUMMARY_BATCH": "2",
    "ASSISTANT_SUMMARY_TOKENS": "2000",  # the fake's summary lists every folded message: never cut short
    "ASSISTANT_WORKER_HEARTBEAT_S": "1",  # a dead worker's jobs are taken over after three beats
    "ASSISTANT_JOB_RETRY_WAIT_S": "1",
}


def _sql(database_url: str, query: str, *params: object) -> list[tuple[object, ...]]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        return list(conn.execute(query, params).fetchall())


def _until(check: Callable[[], T], what: str, timeout_s: float = 90.0) -> T:
    deadline = time.monotonic() + timeout_s
    while not (found := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return found


class Workers:
    """`assistant worker` processes, each known by the id procrastinate registered it under."""

    def __init__(self, env: dict[str, str], tmp_path: Path, database_url: str) -> None:
        self.env, self.tmp_path, self.database_url = env, tmp_path, database_url
        self.by_id: dict[int, subprocess.Popen[bytes]] = {}

    def start(self, name: str) -> int:
        known = {int(str(r[0])) for r in _sql(self.database_url, "SELECT id FROM procrastinate_workers")}
        env = self.env | {
            "ASSISTANT_DATA_DIR": str(self.tmp_path / name / "data"),
            "ASSISTANT_FAKE_RECORD_PATH": str(self.tmp_path / f"{name}-received.jsonl"),
        }
        with (self.tmp_path / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "assistant.cli.main", "worker"], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        self.by_id[-process.pid] = process  # known by its pid until it has registered

        def registered() -> list[int]:
            assert process.poll() is None, (self.tmp_path / f"{name}.log").read_text()[-2000:]
            rows = _sql(self.database_url, "SELECT id FROM procrastinate_workers")
            return [i for i in (int(str(r[0])) for r in rows) if i not in known]

        [worker_id] = _until(registered, f"{name} to register")
        self.by_id[worker_id] = self.by_id.pop(-process.pid)
        return worker_id

    def kill_all(self) -> None:
        for process in self.by_id.values():
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)


@pytest.fixture
def deployment(
    tmp_path: Path, database_url: str, services: Endpoints, redis_prefix: str
) -> Iterator[tuple[Nginx, list[AppServer], Workers]]:
    secret = secrets.token_urlsafe(48)
    envs = {n: _app_env(tmp_path / n, database_url, services, redis_prefix) | SHARED for n in ("a", "b", "workers")}
    servers = [
        AppServer(f"http://127.0.0.1:{_free_port()}", envs[n] | {"CHAINLIT_AUTH_SECRET": secret}, tmp_path / f"{n}.log")
        for n in ("a", "b")
    ]
    workers = Workers(envs["workers"] | {"ASSISTANT_FAKE_TOKEN_DELAY_S": "0.05"}, tmp_path, database_url)
    nginx = Nginx(tmp_path / "nginx", _free_port(), [s.url.removeprefix("http://") for s in servers])
    subprocess.run(
        [sys.executable, "-m", "assistant.cli.main", "users", "add", "ann", "--password-stdin"],
        input=PASSWORD.encode() + b"\n",
        env=servers[0].env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    try:
        for server in servers:
            server.start()
        nginx.start()
        yield nginx, servers, workers
    finally:  # also on failure: nothing this test started outlives it
        workers.kill_all()
        nginx.stop()
        for server in servers:
            server.kill()


async def _cookie_per_instance(proxy: str, instances: list[AppServer]) -> list[str]:
    """Logins through nginx until one login's cookie is routed to each instance (nginx hashes the cookie).

    A login token carries its issue time in whole seconds, so logins within one second get the same cookie:
    only distinct cookies count, else a fast machine makes 40 logins out of three or four keys.
    """
    wanted = [s.url.removeprefix("http://") for s in instances]
    found: dict[str, str] = {}
    seen: set[str] = set()
    async with httpx.AsyncClient(base_url=proxy, timeout=30) as http:
        while len(seen) < 40:
            cookie = await login_cookie(proxy, username="ann", password=PASSWORD)
            if cookie in seen:
                await asyncio.sleep(0.25)
                continue
            seen.add(cookie)
            routed = (await http.get("/user", headers={"Cookie": cookie})).headers[UPSTREAM_HEADER]
            found.setdefault(routed.split(",")[-1].strip(), cookie)
            if set(found) >= set(wanted):
                return [found[w] for w in wanted]
    raise AssertionError(f"40 distinct logins all reached {sorted(found)}")


def _holding(database_url: str, workers: Workers, task: str) -> tuple[int, int] | None:
    """A worker of ours running a job of ``task``: the worker's id and the job's."""
    rows = _sql(
        database_url,
        "SELECT worker_id, id FROM procrastinate_jobs WHERE status = 'doing' AND task_name = %s ORDER BY id",
        task,
    )
    found = [(int(str(w)), int(str(j))) for w, j in rows if w is not None and int(str(w)) in workers.by_id]
    return found[0] if found else None


def _records(path: Path) -> list[list[dict[str, str]]]:
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(line) for line in lines if line.strip()]


@pytest.mark.parametrize("task", ["facts.extract", "summary.fold"])
def test_two_instances_and_two_workers_store_everything_once_when_a_worker_dies(
    task: str, deployment: tuple[Nginx, list[AppServer], Workers], database_url: str, tmp_path: Path
) -> None:
    started = time.monotonic()
    proxy, servers, workers = deployment
    first = workers.start("worker-1")
    workers.start("worker-2")
    sent = [f"note {n}: the train leaves at {n} o'clock" for n in range(TURNS)]
    killed: list[tuple[int, int]] = []

    def kill_a_worker_mid_job() -> None:
        while True:  # a job still running 0.2 s after it was seen is inside its model call (50 ms a word)
            seen = _until(lambda: _holding(database_url, workers, task), f"a worker running {task}")
            time.sleep(0.2)
            if seen in _sql(database_url, "SELECT worker_id, id FROM procrastinate_jobs WHERE status = 'doing'"):
                break
        worker_id, job_id = seen
        workers.by_id[worker_id].send_signal(signal.SIGKILL)
        workers.by_id[worker_id].wait(timeout=30)
        killed.append((worker_id, job_id))

    async def converse() -> list[str]:
        cookies = await _cookie_per_instance(proxy.url, servers)
        thread: str | None = None
        replies = []
        killing: asyncio.Future[None] | None = None
        for n, text in enumerate(sent):
            async with ChatClient(proxy.url, cookies[n % 2], thread) as chat:
                replies.append((await chat.send(text)).text)
                thread = chat.thread_id
            if n == KILL_AFTER_TURN:  # the conversation goes on while the kill waits for its moment
                killing = asyncio.ensure_future(asyncio.to_thread(kill_a_worker_mid_job))
        assert killing is not None
        await killing
        return replies

    # A thread of its own: sync Playwright may hold this thread's event loop (the browser fixture of the package).
    with ThreadPoolExecutor(1) as pool:
        replies = pool.submit(asyncio.run, converse()).result()

    def queue_empty() -> bool:
        rows = _sql(database_url, "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')")
        return rows[0][0] == 0

    _until(queue_empty, "the surviving worker to empty the queue", timeout_s=180)
    listed = subprocess.run(
        [sys.executable, "-m", "assistant.cli.main", "jobs", "list", "-n", "1000", "--json"],
        env=servers[0].env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    jobs = json.loads(listed.stdout)

    # The queue: nothing waiting, running or failed; the killed worker's job ran again and finished.
    assert jobs and {j["status"] for j in jobs} == {"succeeded"}, [j for j in jobs if j["status"] != "succeeded"]
    [(dead, job_id)] = killed
    [again] = [j for j in jobs if j["id"] == job_id]
    assert again["attempts"] == 2, again
    dead_name, survivor_name = ("worker-1", "worker-2") if dead == first else ("worker-2", "worker-1")
    assert "queued again" in (tmp_path / f"{survivor_name}.log").read_text()
    # Killed inside the job: the dead worker had sent its prompt to the model, and its run stored nothing.
    prompt = EXTRACT if task == "facts.extract" else SUMMARIZE
    dead_calls = [c for c in _records(tmp_path / f"{dead_name}-received.jsonl") if c[0]["content"].startswith(prompt)]
    assert dead_calls, f"{dead_name} was killed before its model call"
    if task == "facts.extract":  # the survivor ran the same exchange again
        [(said,)] = _sql(database_url, "SELECT content FROM messages WHERE id = %s", again["args"]["messages"][0])
        survivor_calls = _records(tmp_path / f"{survivor_name}-received.jsonl")
        assert any(c[0]["content"].startswith(EXTRACT) and f"user: {said}" in c[-1]["content"] for c in survivor_calls)

    # Routing: each turn reached, through nginx, the instance its cookie hashes to (each records what it got).
    for n, text in enumerate(sent):
        calls = _records(tmp_path / "ab"[n % 2] / "fake-received.jsonl")
        assert any(c[-1]["content"] == text for c in calls), f"turn {n} did not reach instance {'ab'[n % 2]}"
        assert replies[n].startswith(f"Fake reply to: {text}")

    # Messages: each once, in order, complete, in one thread.
    messages = _sql(database_url, "SELECT id, role, content, status, seq FROM messages ORDER BY seq")
    assert [str(m[1]) for m in messages] == ["user", "assistant"] * TURNS
    assert [str(m[2]) for m in messages if m[1] == "user"] == sent
    assert {str(m[3]) for m in messages} == {"complete"}
    assert _sql(database_url, "SELECT count(*) FROM threads") == [(1,)]

    # Episodic memory: exactly one per message.
    episodic = _sql(database_url, "SELECT message_id FROM memories WHERE kind = 'episodic'")
    assert sorted(str(e[0]) for e in episodic) == sorted(str(m[0]) for m in messages)

    # Facts: exactly one per exchange, current, from the scripted extraction.
    facts = _sql(database_url, "SELECT text FROM memories WHERE kind = 'semantic' AND valid_to IS NULL")
    assert sorted(str(f[0]) for f in facts) == sorted(f"The user said: {text}" for text in sent)
    assert _sql(database_url, "SELECT count(*) FROM memories WHERE kind = 'semantic'") == [(TURNS,)]

    # The summary: one per thread, folding each message that left the window exactly once, in order.
    [(content, covers)] = _sql(database_url, "SELECT content, covers_through_seq FROM thread_summaries")
    folded = [str(m[2]).splitlines()[0] for m in messages if int(str(m[4])) <= int(str(covers))]
    # Caught up: fewer than a batch of messages wait outside the window (not stuck behind the killed fold).
    window, batch = int(SHARED["ASSISTANT_SHORT_TERM_TURNS"]), int(SHARED["ASSISTANT_SUMMARY_BATCH"])
    assert 2 * TURNS - len(folded) < window + batch, f"the summary fell behind: {len(folded)} of {2 * TURNS}"
    assert [line.split(": ", 1)[1] for line in str(content).splitlines()] == folded

    print(f"\nmulti-instance run, {task} killed: {time.monotonic() - started:.1f} s, {len(jobs)} jobs")
