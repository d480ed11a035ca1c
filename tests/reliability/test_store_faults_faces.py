"""The long-running faces through a Postgres restart and a Redis kill: an interactive `assistant chat` and the MCP
server over HTTP, each one process kept running through every fault (see store_faults_kit for the servers)."""

import asyncio
import json
import os
import re
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent

from memory.accounts import AccountStore
from memory.db.pool import open_pool
from tests.reliability.store_faults_kit import TALLY, Servers, own_servers

pytestmark = pytest.mark.slow
ASSISTANT = str(Path(sys.executable).parent / "assistant")


def _env(servers: Servers, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    return env | {
        "ASSISTANT_DATA_DIR": str(servers.settings.data_dir),
        "ASSISTANT_MODEL": "fake",
        "ASSISTANT_EMBEDDER": "hash",
        "ASSISTANT_REDIS_PREFIX": "faults",
        "ASSISTANT_SHORT_TERM_TURNS": "60",
        "ASSISTANT_SUMMARY_BATCH": "50",
        **extra,
    }


class Output:
    """What a child process wrote on one stream, read as it comes."""

    def __init__(self, stream: asyncio.StreamReader) -> None:
        self.text = ""
        self._task = asyncio.create_task(self._read(stream))

    async def _read(self, stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(4096):
            self.text += chunk.decode(errors="replace")

    async def until(self, pattern: str, *, start: int = 0, within: float = 60) -> int:
        """Wait until ``pattern`` (a regex, on text with line breaks made spaces) appears after ``start``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not re.search(pattern, re.sub(r"\s+", " ", self.text[start:])):
            assert loop.time() < deadline, f"no {pattern!r} in:\n{self.text[start:]}"
            await asyncio.sleep(0.05)
        return len(self.text)


class Chat:
    """An interactive `assistant chat` session, one line of input per turn."""

    def __init__(self, process: asyncio.subprocess.Process, record: Path, servers: Servers) -> None:
        self.process = process
        self.servers = servers
        self.record = record
        assert process.stdout is not None and process.stderr is not None
        self.out, self.err = Output(process.stdout), Output(process.stderr)
        self.acknowledged: list[tuple[str, str]] = []  # (role, text)

    async def send(self, *, during: Any = None) -> str | None:
        """One turn; returns the error line when the turn failed (the session stays open)."""
        assert self.process.stdin is not None and self.process.returncode is None
        text = f"msg-{uuid.uuid4().hex[:12]}"
        out_at, err_at = len(self.out.text), len(self.err.text)
        self.process.stdin.write(f"{text}\n".encode())
        await self.process.stdin.drain()
        if during is not None:  # the reply is streaming
            await self.out.until(r"Fake", start=out_at)
            await asyncio.to_thread(during)
        done = asyncio.create_task(self.out.until(rf"Fake reply to: {text}\b.*you>", start=out_at))
        failed = asyncio.create_task(self.err.until(r"error:.*\)", start=err_at))
        finished, pending = await asyncio.wait({done, failed}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        assert finished, (self.out.text[out_at:], self.err.text[err_at:])
        if done in finished:
            await self.out.until(r"you>", start=out_at)
            reply = next(text for role, text in reversed(_stored(self.servers)) if role == "assistant")
            self.acknowledged += [("user", text), ("assistant", reply)]
            return None
        error = re.sub(r"\s+", " ", self.err.text[err_at:])
        assert "unreachable" in error, error
        if "your message was saved" in error:
            self.acknowledged.append(("user", text))
        else:
            assert "your message was not saved" in error, error
        return error

    def last_context(self) -> list[dict[str, str]]:
        return [json.loads(line) for line in self.record.read_text().splitlines()][-1]  # type: ignore[no-any-return]


@asynccontextmanager
async def _chat(servers: Servers, tmp: Path) -> AsyncIterator[Chat]:
    record = tmp / "received.jsonl"
    process = await asyncio.create_subprocess_exec(
        ASSISTANT,
        "chat",
        "--user",
        "ann",
        "--thread",
        "faults",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_env(servers, ASSISTANT_FAKE_RECORD_PATH=str(record), ASSISTANT_FAKE_TOKEN_DELAY_S="0.3"),
    )
    chat = Chat(process, record, servers)
    try:
        await chat.err.until("Ctrl-D to leave", within=120)
        yield chat
    finally:
        if process.returncode is None:
            assert process.stdin is not None
            process.stdin.close()
            await asyncio.wait_for(process.wait(), 60)


def _stored(servers: Servers) -> list[tuple[str, str]]:
    with psycopg.connect(servers.endpoints.database_url) as conn:
        rows = conn.execute(
            "SELECT m.role, m.content FROM messages m JOIN threads t ON t.id = m.thread_id WHERE t.name = 'faults'"
            " ORDER BY m.seq"
        ).fetchall()
    return [(str(role), str(content)) for role, content in rows]


async def _check_next_turn(servers: Servers, chat: Chat) -> None:
    """The next turn works, and every acknowledged message is in Postgres and in the context the model then
    received, exactly once each."""
    before = list(chat.acknowledged)
    assert await chat.send() is None
    stored = _stored(servers)
    received = [(m["role"], m["content"]) for m in chat.last_context()]
    for role, text in before:
        assert stored.count((role, text)) == 1, (role, text, stored)
        assert received.count((role, text)) == 1, (role, text, received)
    TALLY["messages checked"] += len(before)


async def test_an_interactive_chat_keeps_its_session_through_every_fault(server_dir: Path, tmp_path: Path) -> None:
    async with own_servers(server_dir) as servers, _chat(servers, tmp_path) as chat:
        for _ in range(2):
            assert await chat.send() is None

        await asyncio.to_thread(servers.restart_postgres)
        await _check_next_turn(servers, chat)

        await asyncio.to_thread(servers.kill_redis)
        await asyncio.to_thread(servers.start_redis)
        await _check_next_turn(servers, chat)

        assert await chat.send(during=servers.kill_redis) is None  # killed while the reply streams
        await asyncio.to_thread(servers.start_redis)
        await _check_next_turn(servers, chat)

        await asyncio.to_thread(servers.stop_postgres)
        error = await chat.send()
        assert error is not None and "the database was unreachable" in error and "was not saved" in error
        await asyncio.to_thread(servers.start_postgres)
        await _check_next_turn(servers, chat)

        assert await chat.send(during=servers.restart_postgres) is None  # restarted while the reply streams
        await _check_next_turn(servers, chat)

        assert chat.process.returncode is None
    assert "Traceback" not in chat.err.text + chat.out.text


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _data(result: CallToolResult) -> Any:
    assert not result.isError, result.content
    if result.structuredContent is not None:
        content = result.structuredContent
        return content.get("result", content) if set(content) == {"result"} else content
    first = result.content[0]
    assert isinstance(first, TextContent)
    return json.loads(first.text)


@asynccontextmanager
async def _mcp_http(servers: Servers) -> AsyncIterator[tuple[str, str]]:
    pool = await open_pool(servers.endpoints.database_url, max_size=2)
    try:
        accounts = AccountStore(pool)
        token = await accounts.issue_token((await accounts.add("ann")).id, "faults")
    finally:
        await pool.close()
    port = _free_port()
    process = await asyncio.create_subprocess_exec(
        ASSISTANT,
        "mcp",
        "--transport",
        "http",
        "--port",
        str(port),
        env=_env(servers),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    err = Output(process.stderr)
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        async with httpx.AsyncClient(timeout=1) as client:
            for _ in range(300):
                assert process.returncode is None, err.text
                try:
                    await client.post(url)
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.2)
        yield url, token
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 30)
    assert "Traceback" not in err.text, err.text


@asynccontextmanager
async def _session(url: str, token: str) -> AsyncIterator[ClientSession]:
    async with (
        httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as client,
        streamable_http_client(url, http_client=client) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


async def _remember(url: str, token: str, acknowledged: list[str]) -> None:
    text = f"note-{uuid.uuid4().hex[:12]}"
    async with _session(url, token) as session:
        _data(await session.call_tool("remember", {"text": text}))
    acknowledged.append(text)


async def _check_mcp(url: str, token: str, acknowledged: list[str]) -> None:
    """Every acknowledged memory is listed once and is in the context block once."""
    async with _session(url, token) as session:
        listed = [m["text"] for m in _data(await session.call_tool("list_memories", {"limit": 200, "kind": "pinned"}))]
        block = _data(await session.call_tool("get_context", {"query": "notes", "max_tokens": 8000}))
    for text in acknowledged:
        assert listed.count(text) == 1, (text, listed)
        assert json.dumps(block).count(text) == 1, (text, block)
    TALLY["messages checked"] += len(acknowledged)


async def test_the_mcp_http_server_answers_after_every_fault(server_dir: Path) -> None:
    async with own_servers(server_dir) as servers, _mcp_http(servers) as (url, token):
        acknowledged: list[str] = []
        await _remember(url, token, acknowledged)

        await asyncio.to_thread(servers.restart_postgres)
        await _remember(url, token, acknowledged)  # the first request after the restart is answered
        await _check_mcp(url, token, acknowledged)

        await asyncio.to_thread(servers.kill_redis)
        await _remember(url, token, acknowledged)  # Redis down: memories live in Postgres
        await asyncio.to_thread(servers.start_redis)
        await _check_mcp(url, token, acknowledged)

        await asyncio.to_thread(servers.stop_postgres)
        async with httpx.AsyncClient(timeout=60) as client:
            answer = await client.post(
                url,
                json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                headers={"Accept": "application/json, text/event-stream", "Authorization": f"Bearer {token}"},
            )
        assert answer.status_code == 503, answer.text
        assert "the database was unreachable" in answer.text
        await asyncio.to_thread(servers.start_postgres)
        await _remember(url, token, acknowledged)
        await _check_mcp(url, token, acknowledged)
