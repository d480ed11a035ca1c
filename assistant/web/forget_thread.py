"""Deleting a thread from the sidebar asks whether to forget the memories that came from it.

Chainlit's delete dialog cannot ask a second question, so ``public/assistant.js`` asks
before the delete request goes out and, on yes, calls this route first.
"""

from __future__ import annotations

import uuid
from typing import Any

from chainlit.auth import get_current_user
from fastapi import Depends, HTTPException

from assistant.web import state

ROUTE = "/assistant/threads/{thread_id}/forget-memories"


async def forget_memories(thread_id: str, current_user: Any = Depends(get_current_user)) -> dict[str, Any]:
    if current_user is None:
        raise HTTPException(status_code=401, detail="not signed in")
    try:
        key = uuid.UUID(thread_id)
    except ValueError as exc:
        raise HTTPException(status_code=404, detail="no such thread") from exc
    app = state.assistant()
    owner = await app.conversations.thread_owner(key)
    if owner is None or owner.name != current_user.identifier:
        raise HTTPException(status_code=404, detail="no such thread")
    report = await app.memories.forget_from_thread(owner.id, key)
    return {"forgotten": report.memories, **report.as_dict(), "message": report.in_words()}


# The pipeline accepts messages of up to 2,000,000 characters (up to 4 bytes each in UTF-8); Socket.IO's
# default limit of 1 MB per packet would silently drop the connection on a long paste instead.
MAX_PACKET_BYTES = 10 * 1024 * 1024


def mount() -> None:
    """Add the route to Chainlit's server and let long messages through its socket."""
    from chainlit.server import app, sio

    sio.eio.max_http_buffer_size = MAX_PACKET_BYTES

    if not any(getattr(route, "path", None) == ROUTE for route in app.router.routes):
        app.add_api_route(ROUTE, forget_memories, methods=["POST"])
