"""The at-rest pass after forgetting (memory/db/at_rest.py): in the background, and graceful where the
server or the moment does not allow every step."""

from __future__ import annotations

import logging
import uuid

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import AsyncConnectionPool

from memory.db import at_rest
from memory.db.at_rest import AtRest
from memory.db.pool import open_pool


async def test_schedule_returns_at_once_and_settle_waits_for_the_pass(pool: AsyncConnectionPool) -> None:
    async with pool.connection() as conn:
        await conn.execute("CREATE TABLE notes (v text)")
        await conn.execute("INSERT INTO notes SELECT 'note ' || g FROM generate_series(1, 1000) g")
        await conn.execute("DELETE FROM notes")
    cleaner = AtRest(pool)
    cleaner.schedule(["notes"])
    cleaner.schedule(["notes"], full=True)  # joins the queue: one pass or two, never lost
    assert cleaner.last is None or cleaner.last.tables == ["notes"]
    await cleaner.settle()
    assert cleaner.last is not None and cleaner.last.skipped == []
    async with pool.connection() as conn:
        row = await (await conn.execute("SELECT 0, pg_relation_size('notes')")).fetchone()
    assert row is not None and row[1] == 0  # rewritten: nothing left, not even empty pages


async def test_a_busy_table_is_vacuumed_instead_of_waiting_to_be_rewritten(
    pool: AsyncConnectionPool, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(at_rest, "REWRITE_LOCK_WAIT", "200ms")
    async with pool.connection() as conn:
        await conn.execute("CREATE TABLE notes (v text)")
    async with await psycopg.AsyncConnection.connect(database_url) as holder:
        await holder.execute("LOCK TABLE notes IN ACCESS SHARE MODE")  # a long reader, in its transaction
        done = await AtRest(pool).scrub(["notes"], full=["notes"])
    assert done.full == [] and done.skipped == ["rewrite notes"]


async def test_a_role_without_privileges_gets_what_it_may_and_one_warning_per_step(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """An external server's app role may not checkpoint, switch the WAL or vacuum the catalog."""
    role = f"app_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{role}" LOGIN')
        admin.execute(f'GRANT CREATE ON SCHEMA public TO "{role}"')
    try:
        params = conninfo_to_dict(database_url)
        params["user"] = role
        pool = await open_pool(make_conninfo("", **params), max_size=1)
        try:
            async with pool.connection() as conn:
                await conn.execute("CREATE TABLE notes (v text)")
            cleaner = AtRest(pool)
            with caplog.at_level(logging.WARNING, logger="memory.at_rest"):
                first = await cleaner.scrub(["notes"])
                await cleaner.scrub(["notes"])
        finally:
            await pool.close()
        assert len(first.skipped) == 3, first.skipped
        assert len([r for r in caplog.records if r.name == "memory.at_rest"]) == 3  # once per step
    finally:
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute(f'DROP OWNED BY "{role}"')
            admin.execute(f'DROP ROLE "{role}"')
