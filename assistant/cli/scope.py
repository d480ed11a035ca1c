"""What the data commands share: an open assistant for one command, whose data (--user), how many (-n), confirmation."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

import typer

from assistant.cli.common import fail, settings
from memory.errors import InvalidInputError

if TYPE_CHECKING:
    from assistant.application.facade import Assistant

T = TypeVar("T")

USER_OPTION = typer.Option("local", "--user", "-u", help="Whose data (created on first write).")
LIMIT_OPTION = typer.Option(10, "-n", "--limit", min=1, help="How many to show.")
YES_OPTION = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation (for scripts).")
AS_OF_OPTION = typer.Option(
    None, "--as-of", help="What was current then: a date (its end) or date-time, e.g. 2025-03-01 or 2025-03-01T12:00."
)


async def with_assistant(work: Callable[[Assistant], Awaitable[T]], *, check_embedder: bool = True) -> T:
    """Open the assistant without a chat model, run ``work`` on it, drain and close it."""
    from assistant.application.lifecycle import running

    async with running(settings(), chat=False, check_embedder=check_embedder) as app:
        return await work(app)


async def user_id(app: Assistant, name: str, *, create: bool) -> uuid.UUID:
    """The user's id; with ``create`` a new user is made on first write."""
    if create:
        return (await app.conversations.ensure_user(name)).id
    return (await app.conversations.get_user(name)).id


def parse_when(text: str | None) -> datetime | None:
    """A date or date-time given on the command line (UTC unless it says otherwise); a bad one exits."""
    if text is None:
        return None
    from dateutil import parser

    try:
        when = parser.isoparse(text.strip())
    except ValueError:
        try:
            when = parser.parse(text.strip())
        except (ValueError, OverflowError):
            fail(f"not a date: {text!r} (try 2025-03-01 or 2025-03-01T12:00)")
    if len(text.strip()) == 10:  # a bare date: what was current by the end of that day
        when += timedelta(days=1, microseconds=-1)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def confirm(question: str, yes: bool) -> bool:
    return yes or typer.confirm(question, default=False)


def parse_uuid(text: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(text.strip())
    except ValueError:
        raise InvalidInputError(f"not a {what} id: {text!r}") from None
