"""Store faults: a Postgres or Redis server that restarts or goes away mid-query becomes one ``StoreError``.

The pool (``memory/db/pool.py``) and the Redis client (``memory/short_term/connection.py``) raise through here,
so every store, and every face above them, sees the same error with a human message instead of a driver's
exception. Errors that are not about reaching the server (a constraint, a syntax error) pass through unchanged.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
import redis.exceptions as redis_errors

from memory.errors import StoreError

# psycopg_pool.PoolTimeout is an OperationalError: a pool that cannot hand out a connection in time is one too.
POSTGRES_FAULTS: tuple[type[Exception], ...] = (psycopg.OperationalError, psycopg.InterfaceError)
# BusyLoadingError (a restarted server still reading its AOF) is a ConnectionError.
REDIS_FAULTS: tuple[type[Exception], ...] = (redis_errors.ConnectionError, redis_errors.TimeoutError)


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
    except POSTGRES_FAULTS as exc:
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
