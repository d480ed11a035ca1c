"""The MCP server through the SDK's own client: stdio (a launched `assistant mcp`) and streamable HTTP with tokens."""

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent
from pydantic import AnyUrl

from assistant.providers.fake import FakeChatModel
from assistant.runtime import Runtime

pytestmark = pytest.mark.usefixtures("store_env")
ASSISTANT = str(Path(sys.executable).parent / "assistant")
MakeRuntime = Callable[..., Runtime]


def _data(result: CallToolResult) -> Any:
    assert not result.isError, result.content
    if result.structuredContent is not None:
        content = result.structuredContent
        return content.get("result", content) if set(content) == {"result"} else content
    first = result.content[0]
    assert isinstance(first, TextContent)
    return json.loads(first.text)


def _error(result: CallToolResult) -> str:
    assert result.isError
    first = result.content[0]
    assert isinstance(first, TextContent)
    return first.text


@asynccontextmanager
async def _stdio(user: str) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(command=ASSISTANT, args=["mcp", "--user", user], env=dict(os.environ))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


@pytest.mark.slow
async def test_stdio_tools_and_resources_for_the_configured_user(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime(FakeChatModel())
    bob = await runtime.conversations.ensure_user("bob")
    bobs = await runtime.memories.remember(bob.id, "Bob's locker code is 1234")
    async with _stdio("ann") as session:
        tools = {t.name for t in (await session.list_tools()).tools}
        assert tools == {"search_memory", "remember", "forget", "list_memories", "get_context"}
        added = _data(await session.call_tool("remember", {"text": "I am allergic to peanuts"}))
        _data(await session.call_tool("remember", {"text": "My sister Ingrid lives in Tromsø", "pinned": False}))
        hits = _data(await session.call_tool("search_memory", {"query": "Ingrid sister", "limit": 1}))
        assert [h["text"] for h in hits] == ["My sister Ingrid lives in Tromsø"]
        listed = _data(await session.call_tool("list_memories", {"kind": "pinned"}))
        assert [m["text"] for m in listed] == ["I am allergic to peanuts"]
        context = _data(await session.call_tool("get_context", {"query": "where does Ingrid live", "max_tokens": 300}))
        assert "allergic to peanuts" in context["text"] and "Tromsø" in context["text"]
        assert context["tokens"] <= 300 and context["items"][0]["reason"]
        resources = {str(r.uri) for r in (await session.list_resources()).resources}
        assert resources == {"memory://memories", "memory://pinned"}
        pinned = await session.read_resource(AnyUrl("memory://pinned"))
        assert "allergic to peanuts" in pinned.contents[0].text  # type: ignore[union-attr]
        one = await session.read_resource(AnyUrl(f"memory://memories/{added['id']}"))
        assert json.loads(one.contents[0].text)["memory"]["text"] == "I am allergic to peanuts"  # type: ignore[union-attr]
        # Another user's memory or name: an error, and nothing is touched.
        assert "no such memory" in _error(await session.call_tool("forget", {"memory_id": str(bobs.id)}))
        refused = await session.call_tool("remember", {"text": "planted", "user": "bob"})
        assert "scoped to user 'ann'" in _error(refused)
        assert "scoped to user" in _error(await session.call_tool("search_memory", {"query": "x", "user": str(bob.id)}))
        assert "not a memory id" in _error(await session.call_tool("forget", {"memory_id": "nope"}))
        gone = _data(await session.call_tool("forget", {"memory_id": added["id"]}))
        assert gone["forgotten"] == 1
    assert [m.text for m in await runtime.memories.list_memories(bob.id)] == ["Bob's locker code is 1234"]
    ann = await runtime.conversations.get_user("ann")
    assert [m.text for m in await runtime.memories.list_memories(ann.id)] == ["My sister Ingrid lives in Tromsø"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def http_server() -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [ASSISTANT, "mcp", "--transport", "http", "--port", str(port)],
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            try:
                httpx.post(url, timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@asynccontextmanager
async def _http(url: str, token: str) -> AsyncIterator[ClientSession]:
    async with (
        httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as client,
        streamable_http_client(url, http_client=client) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


async def test_http_needs_a_token_and_acts_only_for_its_user(make_runtime: MakeRuntime, http_server: str) -> None:
    runtime = make_runtime(FakeChatModel())
    ann = await runtime.accounts.add("ann")
    bob = await runtime.accounts.add("bob")
    ann_token = await runtime.accounts.issue_token(ann.id, "test")
    bobs = await runtime.memories.remember(bob.id, "Bob's locker code is 1234")
    await runtime.memories.remember(ann.id, "Ann takes the 7:15 train")

    async with httpx.AsyncClient(timeout=10) as raw:
        ping = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        headers = {"Accept": "application/json, text/event-stream"}
        assert (await raw.post(http_server, json=ping, headers=headers)).status_code == 401
        wrong = {**headers, "Authorization": "Bearer asst_not-a-real-token"}
        assert (await raw.post(http_server, json=ping, headers=wrong)).status_code == 401
    with pytest.raises(Exception):  # noqa: B017 - the SDK surfaces the 401 as an error of its own kind
        async with _http(http_server, "asst_wrong") as session:
            await session.list_tools()

    async with _http(http_server, ann_token) as session:
        hits = _data(await session.call_tool("search_memory", {"query": "locker code train"}))
        assert [h["text"] for h in hits] == ["Ann takes the 7:15 train"]
        assert "no such memory" in _error(await session.call_tool("forget", {"memory_id": str(bobs.id)}))
        assert "scoped to user 'ann'" in _error(await session.call_tool("list_memories", {"user": "bob"}))
        added = _data(await session.call_tool("remember", {"text": "Ann's bike is green"}))
        assert added["pinned"] is True
        pinned = await session.read_resource(AnyUrl("memory://pinned"))
        assert "Ann's bike is green" in pinned.contents[0].text  # type: ignore[union-attr]
        with pytest.raises(Exception, match="no memory"):
            await session.read_resource(AnyUrl(f"memory://memories/{bobs.id}"))
    assert [m.text for m in await runtime.memories.list_memories(bob.id)] == ["Bob's locker code is 1234"]
    assert {m.text for m in await runtime.memories.list_memories(ann.id)} == {
        "Ann takes the 7:15 train",
        "Ann's bike is green",
    }
    await runtime.accounts.revoke_tokens(ann.id)
    async with httpx.AsyncClient(timeout=10) as raw:
        revoked = {"Accept": "application/json, text/event-stream", "Authorization": f"Bearer {ann_token}"}
        ping = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        assert (await raw.post(http_server, json=ping, headers=revoked)).status_code == 401
