"""The schema as an ordered list of migrations, recorded in a version table.

Each migration is a SQL file under ``migrations/`` written to be idempotent
(``IF NOT EXISTS``), applied in its own transaction while an advisory lock keeps
processes that start together from racing. Append new files; never edit one
that has shipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import psycopg

from memory.errors import SchemaError

# Arbitrary constant shared by every process that migrates this database.
LOCK_KEY = 0x61737369


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    # A schema an installed library ships (package, file), applied first unless its marker table exists.
    library_schema: tuple[str, str, str] | None = None

    @property
    def sql(self) -> str:
        return resources.files("memory.db").joinpath("migrations", f"{self.version:04d}_{self.name}.sql").read_text()


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial"),
    Migration(2, "message_details"),
    Migration(3, "short_term_and_context"),
    Migration(4, "long_term_memory"),
    Migration(5, "user_scoped_text_index"),
    Migration(6, "memory_lookup_indexes"),
    Migration(7, "accounts"),
    Migration(8, "documents"),
    Migration(9, "memory_origin"),
    Migration(10, "private_messages"),
    Migration(11, "forgotten_turns"),
    Migration(12, "extraction_runs"),
    Migration(13, "deleted_threads"),
    Migration(14, "job_queue", library_schema=("procrastinate.sql", "schema.sql", "procrastinate_jobs")),
    Migration(15, "context_vectors"),
)
LATEST = MIGRATIONS[-1].version

_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""


async def current_version(conn: psycopg.AsyncConnection) -> int:
    exists = await (await conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")).fetchone()
    if not exists or not exists[0]:
        return 0
    row = await (await conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations")).fetchone()
    return int(row[0]) if row else 0


async def _check_pgvector(conn: psycopg.AsyncConnection, extension: str = "vector") -> None:
    row = await (await conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = %s", (extension,))).fetchone()
    if row is None:
        raise SchemaError(
            "this Postgres server has no pgvector extension",
            hint="install pgvector on it (e.g. apt install postgresql-NN-pgvector) or unset ASSISTANT_DATABASE_URL",
        )


async def _apply_library_schema(conn: psycopg.AsyncConnection, migration: Migration) -> None:
    if migration.library_schema is None:
        return
    package, file, marker = migration.library_schema
    row = await (await conn.execute("SELECT to_regclass(%s) IS NOT NULL", (marker,))).fetchone()
    if row and row[0]:
        return  # applied before, e.g. by the library's own command
    await conn.execute(resources.files(package).joinpath(file).read_text().encode())


async def migrate(url: str, *, target: int = LATEST) -> list[Migration]:
    """Apply every migration above the recorded version up to ``target``; return those applied."""
    applied: list[Migration] = []
    try:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await _check_pgvector(conn)
            # One migrating process at a time, from the version table's creation on.
            await conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
            try:
                await conn.execute(_VERSION_TABLE)
                for migration in MIGRATIONS:
                    if migration.version > target:
                        break
                    if migration.version <= await current_version(conn):
                        continue
                    async with conn.transaction():
                        await _apply_library_schema(conn, migration)
                        await conn.execute(migration.sql.encode())
                        await conn.execute(
                            "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                            (migration.version, migration.name),
                        )
                    applied.append(migration)
            finally:
                await conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
    except psycopg.Error as exc:
        raise SchemaError(f"cannot migrate the database: {exc}".strip()) from exc
    return applied
