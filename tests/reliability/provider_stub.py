"""A scriptable chat provider on loopback that speaks OpenAI's chat-completions streaming format.

Each request takes the next step of the script (the last step repeats) and is recorded, so a test can say
what the real LiteLLM model class was sent. Steps: a normal reply, an HTTP error status, a 200 with an HTML
body, a hang before the first byte, a stream cut off mid-way, a stream that stalls, an empty stream and a
stream that ends without saying why.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

Kind = Literal["reply", "status", "html", "hang", "cut", "stall", "empty", "unfinished"]


@dataclass(frozen=True)
class Step:
    kind: Kind
    text: str = ""  # the reply, or what arrives before a cut, stall or unfinished end
    status: int = 200
    finish_reason: str = "stop"


def reply(text: str, *, finish_reason: str = "stop") -> Step:
    return Step("reply", text, finish_reason=finish_reason)


def status(code: int) -> Step:
    return Step("status", status=code)


def html() -> Step:
    return Step("html")


def hang() -> Step:
    return Step("hang")


def cut(text: str) -> Step:
    return Step("cut", text)


def stall(text: str) -> Step:
    return Step("stall", text)


def empty() -> Step:
    return Step("empty")


def unfinished(text: str) -> Step:
    return Step("unfinished", text)


@dataclass
class Request:
    messages: list[dict[str, Any]]
    at: float


@dataclass
class ProviderStub:
    steps: list[Step] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    url: str = ""

    def script(self, *steps: Step) -> None:
        self.steps = list(steps)

    @property
    def last_messages(self) -> list[dict[str, Any]]:
        return self.requests[-1].messages

    def _next(self) -> Step:
        if not self.steps:
            return reply("ok")
        return self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(Request(body.get("messages", []), time.monotonic()))
        step = self._next()
        if step.kind == "status":
            error = {"error": {"message": f"stub error {step.status}", "type": "stub", "code": step.status}}
            return web.json_response(error, status=step.status)
        if step.kind == "html":
            return web.Response(text="<html><body><h1>Bad gateway</h1></body></html>", content_type="text/html")
        if step.kind == "hang":
            await asyncio.sleep(3600)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        words = step.text.split(" ") if step.text else []
        for index, word in enumerate(words):
            await response.write(_event(_chunk(word if index == 0 else " " + word)))
        if step.kind == "cut":
            # Let the client read every piece first: a close racing its reads could lose some in transit, and the
            # tests check that all the text that arrived is kept.
            await asyncio.sleep(0.3)
            assert request.transport is not None
            request.transport.close()  # the connection drops with the chunked body unfinished
            return response
        if step.kind == "stall":
            await asyncio.sleep(3600)
        if step.kind == "reply":
            await response.write(_event(_chunk(None, finish_reason=step.finish_reason)))
            usage = {"prompt_tokens": 10, "completion_tokens": len(words), "total_tokens": 10 + len(words)}
            await response.write(_event({**_chunk(None), "choices": [], "usage": usage}))
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


def _chunk(text: str | None, *, finish_reason: str | None = None) -> dict[str, Any]:
    delta = {"content": text} if text is not None else {}
    return {
        "id": "chatcmpl-stub",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": "stub",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


def _event(data: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(data)}\n\n".encode()


@contextmanager
def running(*steps: Step) -> Iterator[ProviderStub]:
    """A stub on a free loopback port, served from its own thread and event loop for the time of the block (so
    a CLI command with its own loop can reach it too); ``stub.url`` is its API base."""
    stub = ProviderStub(list(steps))
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, web.AppRunner] = {}

    async def start() -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", stub.handle)
        app.router.add_post("/chat/completions", stub.handle)
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        stub.url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
        holder["runner"] = runner

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, name="provider-stub", daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield stub
    finally:
        asyncio.run_coroutine_threadsafe(holder["runner"].cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
