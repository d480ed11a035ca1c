"""The async Postgres connection pool every store shares."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from pgvector.psycopg import register_vector_async
from psycopg_pool import AsyncConnectionPool

from memory.errors import StoreError
from memory.redaction import redact
from memory.store_faults import postgres_faults


async def _configure(conn: psycopg.AsyncConnection) -> None:
    await register_vector_async(conn)
    # A user's memories are a slice of a shared HNSW index: keep scanning until enough of theirs are found.
    await conn.execute("SET hnsw.ef_search = 100")
    await conn.execute("SET hnsw.iterative_scan = relaxed_order")


class StorePool(AsyncConnectionPool):
    """A pool whose connections are checked when handed out (a restarted server leaves every pooled one dead;
    they are replaced instead of failing the next query), and whose faults mid-query are ``StoreError``."""

    @asynccontextmanager
    async def connection(
        self,
        timeout: float | None = None,  # noqa: ASYNC109 - the signature of the method it overrides
    ) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        async with postgres_faults(), super().connection(timeout) as conn:
            yield conn


async def open_pool(url: str, *, min_size: int = 1, max_size: int = 10, wait_s: float = 10.0) -> AsyncConnectionPool:
    """Open a pool on a migrated database (pgvector types are registered on each connection)."""
    # No server-side prepared statements: a generic plan of the retrieval query (which depends on how many
    # memories the user has) can be a hundred times slower than the plan for the actual values.
    # Autocommit: a lone statement is its own transaction, without a BEGIN and a COMMIT round trip around
    # it (two of every three round trips of a turn's reads). Statements that must succeed or fail together
    # run in ``conn.transaction()``.
    pool = StorePool(
        url,
        min_size=min_size,
        max_size=max_size,
        timeout=wait_s,
        configure=_configure,
        # One empty round trip when a connection is handed out: after a Postgres restart every pooled
        # connection is dead, and without the check each would fail one query before being replaced.
        check=AsyncConnectionPool.check_connection,
        # Reconnection attempts back off (1, 2, 4 s...) and, by default, for five minutes: a server back after a
        # minute would then wait for the next, half a minute later. Giving up sooner lets the next request start
        # afresh, at once.
        reconnect_timeout=wait_s,
        open=False,
        kwargs={"prepare_threshold": None, "autocommit": True},
    )
    try:
        await pool.open(wait=True, timeout=wait_s)
    except Exception as exc:
        await pool.close()
        raise StoreError(f"cannot connect to Postgres at {redact(url)}: {exc}") from exc
    return pool
