"""A web login lasts as long as the account it was issued for.

Chainlit signs a token (the ``access_token`` cookie, valid 15 days) and, on every request and socket
connection, reads the user back from it and creates that user if the data layer has none. Removing a user
must end their sessions, so every token is checked against the accounts before Chainlit sees it: in password
mode the token must name an existing account and carry that account's id (a name removed and added again is a
new account, and old tokens do not reach it); in local mode it must be the local user's. A refused token gets
a 401, which the browser answers with the login page.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from chainlit.user import User
from fastapi import HTTPException

from assistant.web import state
from memory.errors import AssistantError, NotFoundError

ACCOUNT_KEY = "account"  # the user id a password login was issued for, in the token's user metadata
LOCAL_USER = "local"
log = logging.getLogger("assistant.web.logins")


async def still_valid(claimed: User, mode: str) -> bool:
    """Whether a signed token's user may still use the app."""
    if mode != "password":
        return claimed.identifier == LOCAL_USER
    issued_for = (claimed.metadata or {}).get(ACCOUNT_KEY)
    if not issued_for:
        return False  # issued before tokens carried the account: sign in once more
    try:
        stored = await state.assistant().conversations.get_user(claimed.identifier)
    except NotFoundError:
        return False
    except AssistantError as exc:
        log.warning("cannot check a session (%s); refused", exc)
        return False
    return str(stored.id) == str(issued_for)


def install(mode: str) -> None:
    """Check every token Chainlit reads (HTTP routes and the socket both go through ``authenticate_user``)."""
    import chainlit.auth as chainlit_auth
    from chainlit.auth.jwt import decode_jwt

    original: Callable[[str], Awaitable[Any]] = getattr(
        chainlit_auth.authenticate_user, "__wrapped__", chainlit_auth.authenticate_user
    )

    async def authenticate_user(token: str) -> Any:
        try:
            claimed = decode_jwt(token)
        except Exception as exc:
            raise HTTPException(status_code=401, detail="Invalid authentication token") from exc
        if not await still_valid(claimed, mode):
            raise HTTPException(status_code=401, detail="this session has ended; sign in again")
        return await original(token)

    authenticate_user.__wrapped__ = original  # type: ignore[attr-defined]
    chainlit_auth.authenticate_user = authenticate_user  # type: ignore[assignment]
