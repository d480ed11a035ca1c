"""After forgetting, the removed text leaves Postgres's files too, not only its tables.

A deleted or redacted row stays in the table's file as a dead tuple until VACUUM, its values may stay
in the planner's statistics (``pg_statistic``, shown as ``pg_stats``) until ANALYZE (and in the dead
statistics rows until ``pg_statistic`` is vacuumed), and its insertion stays in the write-ahead log
until the segment holding it is removed. So, after each forgetting, in the background of the process:

1. ``VACUUM (ANALYZE)`` each touched table (its TOAST table and indexes with it), or ``VACUUM (FULL,
   ANALYZE)`` when a whole user's data went (forget all, a user erased) or ``rewrite_always`` is set: a
   plain VACUUM frees the dead tuples' space but the page keeps their bytes until new rows overwrite
   them (and a text index keeps a word's key); FULL writes the table and its indexes into new files and
   drops the old ones. A table another session holds is vacuumed instead (``REWRITE_LOCK_WAIT``).
2. ``VACUUM pg_catalog.pg_statistic`` (FULL when tables were rewritten): the statistics rows ANALYZE
   replaced are dead tuples holding the old sampled values.
3. ``pg_switch_wal()`` then ``CHECKPOINT``: the segment that held the text is closed, the pages are on
   disk as vacuumed, and every segment before the checkpoint is no longer needed; the embedded server
   (``assistant/embedded/postgres.py``) removes such segments rather than recycling them.

VACUUM cannot run inside a transaction and may take a while on a large table, so it never runs on the
request path: ``schedule`` queues the tables and returns; ``settle`` waits (one-shot commands call it
before they exit). A role that may not checkpoint or vacuum the catalog (an external server) gets what
it may, and the rest is logged once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import psycopg
from psycopg import AsyncConnection, sql
from psycopg_pool import AsyncConnectionPool

log = logging.getLogger("memory.at_rest")
REWRITE_LOCK_WAIT = "5s"

# Every table that holds a user's text; a user's erasure reaches all of them (by cascade).
USER_TABLES = (
    "users",
    "threads",
    "messages",
    "thread_summaries",
    "context_reports",
    "memories",
    "memory_events",
    "api_tokens",
    "documents",
    "document_chunks",
)


@dataclass
class Scrubbed:
    """What one pass did, and how long each step took (for the figures in docs/reliability.md)."""

    tables: list[str]
    full: list[str]
    vacuum_s: float = 0.0
    wal_s: float = 0.0
    skipped: list[str] = field(default_factory=list)


class AtRest:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool
        self._tables: set[str] = set()
        self._full: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._warned: set[str] = set()
        self.last: Scrubbed | None = None
        self.rewrite_always = False  # rewrite after every forgetting, not only after a whole user's

    def schedule(self, tables: Iterable[str], *, full: bool = False) -> None:
        """Queue these tables for the next pass (``full``: rewrite them) and start one if none is running."""
        chosen = set(tables)
        self._tables |= chosen
        if full or self.rewrite_always:
            self._full |= chosen
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name="forget-at-rest")

    async def settle(self) -> None:
        """Wait until every queued pass is done (a CLI command calls this before it returns)."""
        while self._task is not None and not self._task.done():
            await asyncio.wait({self._task})

    async def _drain(self) -> None:
        while self._tables:
            tables, full = self._tables, self._full
            self._tables, self._full = set(), set()
            try:
                self.last = await self.scrub(tables, full=full)
            except (psycopg.Error, OSError) as exc:
                # The rows are gone already; what is left on disk goes with the next pass or autovacuum.
                log.warning("cleaning up after forgetting failed: %s", exc)

    async def scrub(self, tables: Iterable[str], *, full: Iterable[str] = ()) -> Scrubbed:
        """One pass over these tables now (see the module's docstring)."""
        rewrite = set(full)
        done = Scrubbed(sorted(tables), sorted(rewrite & set(tables)))
        async with self.pool.connection() as conn:
            if not conn.autocommit:
                await conn.set_autocommit(True)  # VACUUM refuses to run in a transaction
            started = time.perf_counter()
            for table in done.tables:
                if table in rewrite and not await self._rewrite(conn, table):
                    done.full.remove(table)
                    done.skipped.append(f"rewrite {table}")
                if table not in done.full:
                    await conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table)))
            # Its dead rows are the statistics ANALYZE replaced: rewritten too when the tables are (they are
            # few), else their freed space keeps the sampled values like any other page.
            statistics = "VACUUM (FULL) pg_catalog.pg_statistic" if done.full else "VACUUM pg_catalog.pg_statistic"
            await self._privileged(conn, statistics, "vacuum the planner's statistics", done)
            done.vacuum_s = time.perf_counter() - started
            started = time.perf_counter()
            await self._privileged(conn, "SELECT pg_switch_wal()", "switch to a new WAL segment", done)
            await self._privileged(conn, "CHECKPOINT", "checkpoint (needs superuser or pg_checkpoint)", done)
            done.wal_s = time.perf_counter() - started
        return done

    async def _rewrite(self, conn: AsyncConnection, table: str) -> bool:
        """``VACUUM (FULL, ANALYZE)`` the table, unless another session holds it for longer than
        ``REWRITE_LOCK_WAIT``: a rewrite waiting in the lock queue would stall every query behind it."""
        await conn.execute(f"SET lock_timeout = '{REWRITE_LOCK_WAIT}'")
        try:
            await conn.execute(sql.SQL("VACUUM (FULL, ANALYZE) {}").format(sql.Identifier(table)))
            return True
        except psycopg.errors.LockNotAvailable:
            log.warning("after forgetting, %s was busy; vacuumed instead of rewritten", table)
            return False
        finally:
            await conn.execute("RESET lock_timeout")

    async def _privileged(self, conn: AsyncConnection, query: str, what: str, done: Scrubbed) -> None:
        """Run a step an external server's role may not be allowed; say so once per process."""
        notices: list[str] = []

        def collect(diag: psycopg.errors.Diagnostic) -> None:
            if diag.severity_nonlocalized == "WARNING":  # VACUUM of a table one does not own only warns
                notices.append(diag.message_primary or "")

        conn.add_notice_handler(collect)
        try:
            await conn.execute(query)
        except (psycopg.errors.InsufficientPrivilege, psycopg.errors.ObjectNotInPrerequisiteState) as exc:
            notices.append(str(exc).strip())
        finally:
            conn.remove_notice_handler(collect)
        if notices:
            done.skipped.append(what)
            if what not in self._warned:
                self._warned.add(what)
                log.warning(
                    "after forgetting, could not %s: %s; the server's own retention decides when that text "
                    "leaves its files (docs/reliability.md)",
                    what,
                    notices[0],
                )
