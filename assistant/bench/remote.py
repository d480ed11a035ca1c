"""A chat client for a running web app: the browser's own path, Chainlit's Socket.IO protocol, over HTTP.

It does what the page does: get a login cookie (``/auth/header`` in local mode, ``/login`` in password mode),
open the socket at ``/ws/socket.io`` with that cookie and a thread id (an existing thread is resumed, as a reload
of ``/thread/<id>`` does), send ``client_message`` and read the reply's events up to ``task_end``. So a turn
sent here runs exactly as a typed one: same auth check, same handlers, same stores. ``bench load --url`` and the
multi-instance tests use it; nginx in front is transparent to it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import socketio  # type: ignore[import-untyped]

SOCKET_PATH = "/ws/socket.io"


@dataclass
class Reply:
    """One turn as the client saw it."""

    text: str
    tokens: int  # stream_token events: one per token the model streamed
    wall_s: float
    first_token_s: float | None


@dataclass
class _Turn:
    started: float
    done: asyncio.Event = field(default_factory=asyncio.Event)
    begun: bool = False
    tokens: int = 0
    first_token_s: float | None = None
    text: str = ""


async def login_cookie(url: str, *, username: str | None = None, password: str | None = None) -> str:
    """The ``access_token`` cookie the page would hold: a header login (local mode) or a password login."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        if username is None:
            response = await http.post("/auth/header")
        else:
            response = await http.post("/login", data={"username": username, "password": password or ""})
        response.raise_for_status()
        token = response.cookies.get("access_token")
        if not token:
            raise RuntimeError(f"{url} gave no login cookie")
        return f"access_token={token}"


class ChatClient:
    """One browser tab: a socket on one thread of one app instance (``async with`` opens and closes it)."""

    def __init__(self, url: str, cookie: str, thread_id: str | None = None, *, timeout: float = 60) -> None:
        """``thread_id``: a stored thread to resume; None starts a new chat (its id is then ``thread_id``)."""
        self.url = url.rstrip("/")
        self.cookie = cookie
        self.thread_id = thread_id
        self.timeout = timeout
        self.ready = asyncio.Event()
        self._turn: _Turn | None = None
        self._sio = socketio.AsyncClient(reconnection=False)
        self._sio.on("*", self._event)

    async def __aenter__(self) -> ChatClient:
        auth = {"sessionId": str(uuid.uuid4()), "clientType": "webapp", "threadId": self.thread_id}
        await self._sio.connect(
            self.url,
            socketio_path=SOCKET_PATH,
            headers={"Cookie": self.cookie, "Origin": self.url},
            auth=auth,
            transports=["websocket"],
            wait_timeout=self.timeout,
        )
        await self._sio.emit("connection_successful")
        # Type only once the chat has started (its ``on_chat_start`` step closed) or resumed, as a person would.
        await asyncio.wait_for(self.ready.wait(), self.timeout)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._sio.disconnect()

    async def _event(self, event: str, data: Any = None) -> None:
        step = data if isinstance(data, dict) else {}
        if self.thread_id is None and step.get("threadId"):
            self.thread_id = str(step["threadId"])  # the id the app gave this new chat
        if event == "resume_thread" or (event == "update_message" and step.get("name") == "on_chat_start"):
            self.ready.set()
        turn = self._turn
        if turn is None:
            return
        if event == "new_message" and step.get("name") == "on_message":
            turn.begun = True
        elif event == "stream_token" and isinstance(data, dict) and not data.get("isInput"):
            turn.tokens += 1
            turn.text += str(data.get("token", ""))
            if turn.first_token_s is None:
                turn.first_token_s = time.perf_counter() - turn.started
        elif event in ("new_message", "update_message") and isinstance(data, dict):
            if data.get("type") == "assistant_message" and data.get("output"):
                turn.text = str(data["output"])
        elif event == "task_end" and turn.begun:
            turn.done.set()

    async def send(self, text: str) -> Reply:
        """Send one message and wait until the app has finished answering it."""
        turn = self._turn = _Turn(time.perf_counter())
        message = {
            "id": str(uuid.uuid4()),
            "threadId": self.thread_id or "",
            "name": "User",
            "type": "user_message",
            "output": text,
            "createdAt": datetime.now(UTC).isoformat(),
        }
        try:
            await self._sio.emit("client_message", {"message": message, "fileReferences": []})
            await asyncio.wait_for(turn.done.wait(), self.timeout)
        finally:
            self._turn = None
        return Reply(turn.text, turn.tokens, time.perf_counter() - turn.started, turn.first_token_s)
