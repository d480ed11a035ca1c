"""Which pages may talk to the app: its own origin, and the ones named in ASSISTANT_ALLOWED_ORIGINS.

Chainlit ships with CORS open to every origin, with credentials, and its Socket.IO server checks no origin
at all. A browser marks every cross-origin request with an ``Origin`` header, so one guard in front of the
whole app (HTTP and the WebSocket alike) refuses any request whose ``Origin`` is not the app's own: a page
elsewhere can neither get a local-mode token from ``/auth/header`` nor use a signed-in user's cookie. In local
mode (no login) the ``Host`` must also be an address, ``localhost`` or an allowed origin's host, so a page
whose name an attacker points at 127.0.0.1 (DNS rebinding) is refused too.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Sequence
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

REFUSED = "this page's origin may not use the assistant; set ASSISTANT_ALLOWED_ORIGINS to allow it"


def _host_only(netloc: str) -> str:
    host = netloc.rsplit("@", 1)[-1]
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _is_address_or_localhost(host: str) -> bool:
    name = _host_only(host).lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class Origins:
    """The origins one app accepts: its own (the request's ``Host``) and the configured others."""

    def __init__(self, allowed: Sequence[str], *, local_mode: bool) -> None:
        self.allowed = {origin.rstrip("/").lower() for origin in allowed}
        self.allowed_hosts = {urlsplit(origin).netloc for origin in self.allowed}
        self.local_mode = local_mode

    def accepts(self, origin: str | None, host: str | None) -> bool:
        """Whether a request with these headers may go on (no ``Origin``: not a cross-origin browser request)."""
        host = (host or "").lower()
        if self.local_mode and host and not (_is_address_or_localhost(host) or host in self.allowed_hosts):
            return False
        if origin is None:
            return True
        origin = origin.rstrip("/").lower()
        if origin in self.allowed:
            return True
        netloc = urlsplit(origin).netloc
        return bool(netloc) and netloc == host


class OriginGuard:
    """ASGI middleware: a 403 for HTTP requests and WebSocket handshakes from origins the app does not accept."""

    def __init__(self, app: ASGIApp, origins: Origins) -> None:
        self.app = app
        self.origins = origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
            if not self.origins.accepts(headers.get("origin"), headers.get("host")):
                await _refuse(scope, send)
                return
        await self.app(scope, receive, send)


async def _refuse(scope: Scope, send: Send) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    body = json.dumps({"detail": REFUSED}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 403, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def install(allowed: Sequence[str], *, local_mode: bool) -> None:
    """Put the guard in front of Chainlit's server and narrow its CORS list to the configured origins."""
    from chainlit.config import config
    from chainlit.server import app

    # Chainlit's CORS middleware was given this very list; it is read when the server handles its first request.
    config.project.allow_origins[:] = list(allowed)
    if not any(getattr(m, "cls", None) is OriginGuard for m in app.user_middleware):
        app.add_middleware(OriginGuard, origins=Origins(allowed, local_mode=local_mode))
