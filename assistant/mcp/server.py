"""Build and run the MCP server around one open assistant (no chat model is started)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

from mcp.server.auth.settings import AuthSettings
from mcp.server.fastmcp import FastMCP
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Send
from starlette.types import Scope as AsgiScope

from assistant.application.lifecycle import running as running_assistant
from assistant.heap import settle_heap
from assistant.mcp.context_block import TOKENIZER_MODEL
from assistant.mcp.scope import AccountTokenVerifier, Scope
from assistant.mcp.tools import register
from assistant.runtime import load_tokenizer
from assistant.settings import Settings
from memory.errors import StoreError, describe

Transport = Literal["stdio", "http"]
INSTRUCTIONS = (
    "The memory of the user's personal assistant: what they said in past conversations, facts drawn from them, "
    "and notes they pinned. Use get_context for a ready prompt block, search_memory to look something up, "
    "remember to store what the user asks you to keep, forget to remove a memory for good."
)


def build(scope: Scope, transport: Transport, *, host: str = "127.0.0.1", port: int = 8765) -> FastMCP:
    if transport == "stdio":
        server = FastMCP("assistant-memory", instructions=INSTRUCTIONS, log_level="WARNING")
    else:
        base = f"http://{host}:{port}"
        server = FastMCP(
            "assistant-memory",
            instructions=INSTRUCTIONS,
            host=host,
            port=port,
            log_level="WARNING",
            stateless_http=True,  # each request is authenticated and scoped on its own
            json_response=True,
            token_verifier=AccountTokenVerifier(scope),
            auth=AuthSettings(
                issuer_url=base,
                resource_server_url=f"{base}/mcp",
                validate_token_resource=False,  # our tokens are not bound to a resource; the verifier checks them
            ),
        )
    register(server, scope)
    return server


class StoreFaults:
    """A store fault before the response has started (checking a token while Postgres restarts) is a 503 with a
    human message and a Retry-After, not a 500 and a traceback. Faults inside a tool are already tool errors."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except StoreError as exc:
            if started:
                raise
            body = {"error": "temporarily_unavailable", "error_description": describe(exc)}
            await JSONResponse(body, status_code=503, headers={"Retry-After": "5"})(scope, receive, send)


async def _serve_http(server: FastMCP) -> None:
    import uvicorn

    app = server.streamable_http_app()
    app.add_middleware(StoreFaults)
    config = uvicorn.Config(app, host=server.settings.host, port=server.settings.port, log_level="warning")
    await uvicorn.Server(config).serve()


@asynccontextmanager
async def running(settings: Settings, user: str | None) -> AsyncIterator[Scope]:
    """An open assistant in a scope; with ``user`` (stdio) every request acts for that user (created if new).
    Turns a fault left without episodic memory get it in the background."""
    async with running_assistant(settings, chat=False, background="backfill") as app:
        await load_tokenizer(TOKENIZER_MODEL)  # get_context counts with it; load it before the heap is frozen
        settle_heap()
        fixed = await app.conversations.ensure_user(user) if user is not None else None
        yield Scope(assistant=app, fixed=fixed)


async def serve(settings: Settings, transport: Transport, *, user: str, host: str, port: int) -> None:
    logging.getLogger("mcp").setLevel(logging.WARNING)
    async with running(settings, user if transport == "stdio" else None) as scope:
        server = build(scope, transport, host=host, port=port)
        if transport == "stdio":
            await server.run_stdio_async()
        else:
            await _serve_http(server)
