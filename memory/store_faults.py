"""Store faults: a Postgres or Redis server that restarts or goes away mid-query becomes one ``StoreError``.

The pool (``memory/db/pool.py``) and the Redis client (``memory/short_term/connection.py``) raise through here,
so every store, and every face above them, sees the same error with a human message instead of a driver's
exception. Errors that are not about reaching the server (a constraint, a deadlock) pass through unchanged.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
import redis.exceptions as redis_errors

from memory.errors import StoreError

# SQLSTATE classes of a server that cannot be reached or is going away: connection exceptions (08), too many
# connections or no disk (53), shutdown, crash or a server still starting (57P). Other operational errors (a
# deadlock, a cancelled query) are about one statement: their callers handle or retry them, so they pass.
_FAULT_STATES = ("08", "53", "57P")
# BusyLoadingError (a restarted server still reading its AOF) is a ConnectionError. A cluster that lost a master
# and has not yet promoted its replica answers CLUSTERDOWN (ClusterDownError) for that master's slots.
REDIS_FAULTS: tuple[type[Exception], ...] = (
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
    redis_errors.ClusterDownError,
)


def is_postgres_fault(exc: BaseException) -> bool:
    """A lost or refused connection: no SQLSTATE (the client lost the server, or the pool had no connection
    in time: ``PoolTimeout``) or one of the classes above."""
    if isinstance(exc, psycopg.InterfaceError):
        return True
    if not isinstance(exc, psycopg.OperationalError):
        return False
    return exc.sqlstate is None or exc.sqlstate.startswith(_FAULT_STATES)


def _reason(exc: BaseException) -> str:
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", first)  # a password in a URL is never shown


def postgres_error(exc: BaseException) -> StoreError:
    return StoreError(f"the database was unreachable ({_reason(exc)})", hint="try again")


def redis_error(exc: BaseException) -> StoreError:
    return StoreError(f"Redis (short-term memory) was unreachable ({_reason(exc)})", hint="try again")


@asynccontextmanager
async def postgres_faults() -> AsyncIterator[None]:
    try:
        yield
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
        if not is_postgres_fault(exc):
            raise
        raise postgres_error(exc) from exc


@asynccontextmanager
async def redis_faults() -> AsyncIterator[None]:
    try:
        yield
    except REDIS_FAULTS as exc:
        raise redis_error(exc) from exc


def in_turn(error: StoreError, *, saved: bool) -> StoreError:
    """The error a turn reports: whether the user's message was stored, and what to do."""
    if saved:
        return StoreError(f"{error.message}; your message was saved", hint="send another message to continue")
    return StoreError(f"{error.message}; your message was not saved", hint="try again")
