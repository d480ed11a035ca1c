import asyncio

import psycopg
import pytest

from memory.db.migrations import LATEST, MIGRATIONS, _check_pgvector, current_version, migrate
from memory.errors import SchemaError


async def _version(url: str) -> int:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        return await current_version(conn)


async def test_a_new_database_is_brought_to_the_latest_version(empty_database_url: str) -> None:
    applied = await migrate(empty_database_url)
    assert [m.version for m in applied] == [m.version for m in MIGRATIONS]
    assert await _version(empty_database_url) == LATEST
    assert await migrate(empty_database_url) == []  # a second run changes nothing


async def test_an_old_schema_with_data_is_upgraded(empty_database_url: str) -> None:
    await migrate(empty_database_url, target=1)
    assert await _version(empty_database_url) == 1
    async with await psycopg.AsyncConnection.connect(empty_database_url, autocommit=True) as conn:
        user = await (await conn.execute("INSERT INTO users (name) VALUES ('ann') RETURNING id")).fetchone()
        assert user
        thread = await (
            await conn.execute("INSERT INTO threads (user_id) VALUES (%s) RETURNING id", (user[0],))
        ).fetchone()
        assert thread
        await conn.execute(
            "INSERT INTO messages (thread_id, user_id, role, content) VALUES (%s, %s, 'user', 'hello from v1')",
            (thread[0], user[0]),
        )
    await migrate(empty_database_url)
    assert await _version(empty_database_url) == LATEST
    async with await psycopg.AsyncConnection.connect(empty_database_url) as conn:
        row = await (await conn.execute("SELECT content, external_id, usage FROM messages")).fetchone()
    assert row == ("hello from v1", None, None)


async def test_migrations_are_idempotent_sql(empty_database_url: str) -> None:
    await migrate(empty_database_url)
    async with await psycopg.AsyncConnection.connect(empty_database_url, autocommit=True) as conn:
        for migration in MIGRATIONS:  # re-running any file by hand must not fail
            await conn.execute(migration.sql.encode())


async def test_processes_starting_together_migrate_once(empty_database_url: str) -> None:
    results = await asyncio.gather(*(migrate(empty_database_url) for _ in range(4)))
    assert sorted(len(r) for r in results) == [0, 0, 0, len(MIGRATIONS)]


async def test_a_server_without_the_extension_gets_a_clear_error(empty_database_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(empty_database_url) as conn:
        await _check_pgvector(conn)  # the embedded server has pgvector
        with pytest.raises(SchemaError, match="no pgvector") as info:
            await _check_pgvector(conn, extension="no_such_extension")
    assert info.value.hint and "pgvector" in info.value.hint


async def test_an_unreachable_server_is_one_clear_error() -> None:
    with pytest.raises(SchemaError, match="cannot migrate"):
        await migrate("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")
