"""Who is chatting: one local user with no login (the default), or password accounts from Postgres."""

from __future__ import annotations

import logging

import chainlit as cl
from starlette.datastructures import Headers

from assistant.settings import Settings
from assistant.web import logins, origins, state
from assistant.web.logins import ACCOUNT_KEY, LOCAL_USER
from assistant.web.secret import ensure_auth_secret

__all__ = ["LOCAL_USER", "configure", "local_user", "password_user"]
log = logging.getLogger("assistant.web.auth")


async def local_user(headers: Headers) -> cl.User | None:
    """Local mode: whoever opens the page is the one local user."""
    return cl.User(identifier=LOCAL_USER, display_name="You", metadata={"provider": "local"})


async def password_user(username: str, password: str) -> cl.User | None:
    """Password mode: a user made with `assistant users add`."""
    try:
        accounts = state.assistant().accounts
    except Exception as exc:
        log.error("login unavailable: %s", exc)
        return None
    user = await accounts.verify_password(username.strip(), password)
    if user is None:
        return None
    # The account's id goes into the signed token, so the token ends with the account (see logins.py).
    metadata = {"provider": "password", ACCOUNT_KEY: str(user.id)}
    return cl.User(identifier=user.name, display_name=user.display_name, metadata=metadata)


def configure(settings: Settings) -> str:
    """Register the login callback of the configured mode; returns the mode."""
    ensure_auth_secret(settings.data_dir)
    logins.install(settings.auth)
    origins.install(settings.allowed_origins, local_mode=settings.auth == "local")
    if settings.auth == "password":
        cl.password_auth_callback(password_user)
    else:
        cl.header_auth_callback(local_user)
    return settings.auth
