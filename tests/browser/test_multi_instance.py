"""Two `assistant serve` instances on one Postgres and one Redis behave as one app.

Through nginx (deploy/nginx/assistant.conf.template, sticky on the login cookie): a conversation in Chromium
goes on after the instance serving it is killed and started again. Directly: a conversation alternating
between the instances, with a login made on one, stores every message and episodic memory exactly once.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import Page, expect

from assistant.bench.remote import ChatClient, login_cookie
from assistant.embedded.manager import Endpoints
from tests.browser.conftest import AppServer, _app_env, _free_port, screenshot
from tests.nginx_proxy import UPSTREAM_HEADER, Nginx, nginx_binary

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(nginx_binary() is None, reason="Debian's nginx is not installed (scripts/test.sh installs it)"),
]


def _instances(
    tmp_path: Path, database_url: str, services: Endpoints, redis_prefix: str, **env: str
) -> list[AppServer]:
    """Two instances sharing the stores and the login secret, each with a data directory of its own."""
    secret = secrets.token_urlsafe(48)
    servers = []
    for name in ("a", "b"):
        base = _app_env(tmp_path / name, database_url, services, redis_prefix)
        server_env = base | {"CHAINLIT_AUTH_SECRET": secret} | env
        servers.append(AppServer(f"http://127.0.0.1:{_free_port()}", server_env, tmp_path / f"app-{name}.log"))
    return servers


@pytest.fixture
def two_instances(
    tmp_path: Path, database_url: str, services: Endpoints, redis_prefix: str
) -> Iterator[list[AppServer]]:
    servers = _instances(tmp_path, database_url, services, redis_prefix)
    try:
        for server in servers:
            server.start()
        yield servers
    finally:
        for server in servers:
            server.kill()


@pytest.fixture
def proxy(tmp_path: Path, two_instances: list[AppServer]) -> Iterator[Nginx]:
    nginx = Nginx(tmp_path / "nginx", _free_port(), [s.url.removeprefix("http://") for s in two_instances])
    try:
        nginx.start()
        yield nginx
    finally:
        nginx.stop()


def _messages(database_url: str) -> list[tuple[str, str, str]]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT role, content, status FROM messages ORDER BY seq").fetchall()
    return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]


def _wait_for_messages(database_url: str, count: int) -> list[tuple[str, str, str]]:
    deadline = time.monotonic() + 30
    while len(found := _messages(database_url)) < count and time.monotonic() < deadline:
        time.sleep(0.2)
    return found


def _model_calls(tmp_path: Path) -> list[list[dict[str, str]]]:
    """What the fake model received, on both instances (each records to its own file)."""
    return [
        [{"role": m["role"], "content": m["content"]} for m in json.loads(line)]
        for name in ("a", "b")
        if (record := tmp_path / name / "fake-received.jsonl").exists()
        for line in record.read_text().splitlines()
        if line.strip()
    ]


def _open(page: Page, url: str) -> None:
    page.goto(url)
    page.wait_for_load_state("networkidle")
    expect(page.locator("#chat-input")).to_be_visible()
    expect(page.locator("#chat-settings-open-modal")).to_be_visible()


def _send(page: Page, text: str) -> None:
    box = page.locator("#chat-input")
    box.fill(text)
    box.press("Enter")


@pytest.mark.browser
def test_a_conversation_goes_on_when_its_instance_restarts(
    page: Page, proxy: Nginx, two_instances: list[AppServer], database_url: str, tmp_path: Path
) -> None:
    _open(page, proxy.url)
    _send(page, "the kettle is in the blue cupboard")
    expect(page.get_by_text("Fake reply to: the kettle is in the blue cupboard")).to_be_visible()
    _wait_for_messages(database_url, 2)

    # The instance nginx routes this browser to (same cookie, same instance): restart it.
    upstream = page.request.get(f"{proxy.url}/user").headers[UPSTREAM_HEADER]
    serving = next(s for s in two_instances if s.url.endswith(upstream.split(",")[-1].strip()))
    serving.kill(signal.SIGKILL)
    serving.start()

    with psycopg.connect(database_url) as conn:
        (thread_id,) = conn.execute("SELECT id FROM threads").fetchone() or (None,)
    _open(page, f"{proxy.url}/thread/{thread_id}")
    expect(page.get_by_text("the kettle is in the blue cupboard").first).to_be_visible()
    _send(page, "where is the kettle?")
    expect(page.get_by_text("Fake reply to: where is the kettle?")).to_be_visible()
    screenshot(page, "multi-instance-after-restart")

    stored = _wait_for_messages(database_url, 4)
    assert [c for _, c, _ in stored[:3]] == [
        "the kettle is in the blue cupboard",
        "Fake reply to: the kettle is in the blue cupboard",
        "where is the kettle?",
    ]
    assert len(stored) == 4 and all(status == "complete" for _, _, status in stored)
    assert stored[3][1].startswith("Fake reply to: where is the kettle?")
    # The restarted or other instance rebuilt the thread's short-term memory: the model saw the first message.
    turn = next(c for c in _model_calls(tmp_path) if c[-1] == {"role": "user", "content": "where is the kettle?"})
    assert any(m["role"] == "user" and m["content"] == "the kettle is in the blue cupboard" for m in turn[:-1])


def test_a_conversation_alternating_between_instances_is_stored_once(
    tmp_path: Path, database_url: str, services: Endpoints, redis_prefix: str
) -> None:
    servers = _instances(tmp_path, database_url, services, redis_prefix, ASSISTANT_AUTH="password")
    env = servers[0].env
    subprocess.run(
        [sys.executable, "-m", "assistant.cli.main", "users", "add", "ann", "--password-stdin"],
        input=b"correct horse battery\n",
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    try:
        for server in servers:
            server.start()
        sent = [f"note number {n}: the train leaves at {n} o'clock" for n in range(6)]

        async def converse() -> list[str]:
            # One login, made on the first instance, is valid on the second.
            cookie = await login_cookie(servers[0].url, username="ann", password="correct horse battery")
            thread: str | None = None  # the first instance starts the chat; each next message resumes it
            replies = []
            for n, text in enumerate(sent):
                async with ChatClient(servers[n % 2].url, cookie, thread) as chat:
                    replies.append((await chat.send(text)).text)
                    thread = chat.thread_id
            return replies

        # A thread of its own: sync Playwright may hold this thread's event loop (the module's browser fixture).
        with ThreadPoolExecutor(1) as pool:
            replies = pool.submit(asyncio.run, converse()).result()
    finally:
        for server in servers:
            server.kill()

    for text, reply in zip(sent, replies, strict=True):
        assert reply.startswith(f"Fake reply to: {text}")
    # Each turn's model input held the turn before it, which the other instance had served.
    calls = _model_calls(tmp_path)
    for previous, text in itertools.pairwise(sent):
        turn = next(c for c in calls if c and c[-1]["role"] == "user" and c[-1]["content"] == text)
        assert any(m["role"] == "user" and m["content"] == previous for m in turn[:-1]), f"{text!r} lost {previous!r}"
    stored = _messages(database_url)
    assert [role for role, _, _ in stored] == ["user", "assistant"] * len(sent)
    assert [c for role, c, _ in stored if role == "user"] == sent
    assert all(status == "complete" for _, _, status in stored)
    with psycopg.connect(database_url) as conn:
        threads = conn.execute("SELECT count(*) FROM threads").fetchone()
        episodic = conn.execute(
            "SELECT count(*), count(DISTINCT message_id) FROM memories WHERE kind = 'episodic'"
        ).fetchone()
    assert threads == (1,)
    assert episodic is not None and episodic[0] == episodic[1] <= len(stored)
