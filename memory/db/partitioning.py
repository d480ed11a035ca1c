"""Hash partitioning of ``memories`` by user: an opt-in conversion of a migrated, populated database.

Every query of the app names one user, so with ``memories`` split by ``hash(user_id)``
the planner reads one partition: each partition has its own HNSW graph and full-text
index, a fraction of the table's size, built and vacuumed on its own. A small install
gains nothing from that, which is why this is a command (``assistant db partition``)
rather than a migration every database goes through.

The conversion is one transaction: the table is locked against writes (reads go on),
its rows are copied into a new partitioned table in batches by id, every index is
built partition by partition, the foreign keys are added, and the old table is
dropped and replaced under its name. Interrupted, it leaves the database as it was.
A partitioned table's unique keys must hold the partition key, so the primary key
becomes ``(id, user_id)``, unique indexes gain ``user_id``, and a memory's link to its
previous version is a ``(user_id, previous_id)`` reference: versions of a memory
always belong to one user.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from psycopg import AsyncConnection, sql

from memory.db.migrations import LATEST, LOCK_KEY, current_version
from memory.errors import InvalidInputError, SchemaError

TABLE = "memories"
MAX_PARTITIONS = 1024
COPY_BATCH = 10_000

Progress = Callable[[str, int, int], None]

_NEW = f"{TABLE}_partitioned"


@dataclass(frozen=True)
class PartitionReport:
    partitions: int
    rows: int
    indexes: int
    seconds: float


async def partition_count(conn: AsyncConnection, table: str = TABLE) -> int:
    """How many partitions ``table`` has (0: it is a plain table)."""
    row = await (
        await conn.execute(
            """SELECT c.relkind = 'p', (SELECT count(*) FROM pg_inherits i WHERE i.inhparent = c.oid)
               FROM pg_class c WHERE c.oid = to_regclass(%s)""",
            (table,),
        )
    ).fetchone()
    return int(row[1]) if row and row[0] else 0


async def partition_memories(
    url: str, partitions: int, *, batch: int = COPY_BATCH, progress: Progress | None = None
) -> PartitionReport:
    """Turn ``memories`` into ``partitions`` hash partitions on ``user_id``, keeping every row."""
    if not 2 <= partitions <= MAX_PARTITIONS:
        raise InvalidInputError(f"--partitions must be between 2 and {MAX_PARTITIONS}, not {partitions}")
    started = time.perf_counter()
    try:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            # No migration runs meanwhile (a process starting now waits for the lock, then finds nothing to do).
            await conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
            try:
                await _check(conn)
                async with conn.transaction():
                    rows, indexes = await _convert(conn, partitions, batch, progress or _quiet)
            finally:
                await conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
    except psycopg.Error as exc:
        raise SchemaError(f"cannot partition {TABLE}; nothing was changed: {exc}".strip()) from exc
    return PartitionReport(partitions, rows, indexes, time.perf_counter() - started)


def _quiet(_label: str, _done: int, _total: int) -> None:
    return None


async def _check(conn: AsyncConnection) -> None:
    version = await current_version(conn)
    if version != LATEST:
        raise SchemaError(
            f"the schema is at version {version}, this code expects {LATEST}", hint="run `assistant db migrate` first"
        )
    existing = await partition_count(conn)
    if existing:
        raise InvalidInputError(f"{TABLE} is already partitioned ({existing} partitions); nothing was changed")
    others = await _rows(
        conn,
        """SELECT conrelid::regclass::text FROM pg_constraint
           WHERE contype = 'f' AND confrelid = to_regclass(%s) AND conrelid <> confrelid""",
        TABLE,
    )
    triggers = await _rows(
        conn, "SELECT tgname FROM pg_trigger WHERE tgrelid = to_regclass(%s) AND NOT tgisinternal", TABLE
    )
    if others or triggers:
        # This code knows how to carry over the table's own references only; anything else is a schema it has
        # not seen, which it must not half-convert.
        found = ", ".join([*(f"a reference from {t}" for t in others), *(f"trigger {t}" for t in triggers)])
        raise SchemaError(f"{TABLE} has {found}, which this command does not know how to carry over")


async def _rows(conn: AsyncConnection, query: str, *params: object) -> list[str]:
    return [str(row[0]) for row in await (await conn.execute(query, params)).fetchall()]


async def _convert(conn: AsyncConnection, partitions: int, batch: int, progress: Progress) -> tuple[int, int]:
    old, new = sql.Identifier(TABLE), sql.Identifier(_NEW)
    # Reads of the old table go on while it is copied; writes wait until the new one has replaced it.
    await conn.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(old))
    await conn.execute(
        sql.SQL(
            "CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING CONSTRAINTS "
            "INCLUDING STORAGE INCLUDING COMPRESSION INCLUDING COMMENTS) PARTITION BY HASH (user_id)"
        ).format(new, old)
    )
    for remainder in range(partitions):
        await conn.execute(
            sql.SQL("CREATE TABLE {} PARTITION OF {} FOR VALUES WITH (MODULUS {}, REMAINDER {})").format(
                sql.Identifier(_partition(remainder)), new, sql.Literal(partitions), sql.Literal(remainder)
            )
        )
    rows = await _copy(conn, batch, progress)
    indexes = await _indexes(conn, partitions, progress)
    await _foreign_keys(conn)
    progress("replacing the table", 0, 1)
    await conn.execute(sql.SQL("DROP TABLE {}").format(old))
    await conn.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(new, old))
    for name in await _rows(
        conn, "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = to_regclass(%s)", TABLE
    ):
        if name.endswith("_new"):
            await conn.execute(
                sql.SQL("ALTER INDEX {} RENAME TO {}").format(
                    sql.Identifier(name), sql.Identifier(name[: -len("_new")])
                )
            )
    # Autovacuum analyzes partitions, never their parent: the parent's statistics are made here, once.
    await conn.execute(sql.SQL("ANALYZE {}").format(old))
    progress("replacing the table", 1, 1)
    return rows, indexes


def _partition(remainder: int) -> str:
    return f"{TABLE}_p{remainder}"


async def _copy(conn: AsyncConnection, batch: int, progress: Progress) -> int:
    """Every row into the new table, ``batch`` at a time in id order (generated columns are computed again)."""
    columns = sql.SQL(", ").join(
        sql.Identifier(name)
        for name in await _rows(
            conn,
            """SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0
               AND NOT attisdropped AND attgenerated = '' ORDER BY attnum""",
            TABLE,
        )
    )
    total_row = await (await conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(TABLE)))).fetchone()
    total = int(total_row[0]) if total_row else 0
    bound = sql.SQL("SELECT id FROM {} WHERE id > %s ORDER BY id OFFSET %s LIMIT 1").format(sql.Identifier(TABLE))
    copy = sql.SQL(
        "INSERT INTO {new} ({cols}) SELECT {cols} FROM {old} WHERE id > %s AND (%s::uuid IS NULL OR id <= %s)"
    ).format(new=sql.Identifier(_NEW), cols=columns, old=sql.Identifier(TABLE))
    done, last = 0, "00000000-0000-0000-0000-000000000000"
    progress("copying memories", 0, total)
    while done < total:
        upper_row = await (await conn.execute(bound, (last, batch - 1), prepare=False)).fetchone()
        upper = upper_row[0] if upper_row else None
        done += (await conn.execute(copy, (last, upper, upper), prepare=False)).rowcount
        progress("copying memories", min(done, total), total)
        if upper is None:
            break
        last = upper
    return done


async def _indexes(conn: AsyncConnection, partitions: int, progress: Progress) -> int:
    """The primary key, then each of the old table's indexes on the new one, built partition by partition."""
    progress("primary key", 0, 1)
    await conn.execute(
        sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY (id, user_id)").format(
            sql.Identifier(_NEW), sql.Identifier(f"{TABLE}_pkey_new")
        )
    )
    progress("primary key", 1, 1)
    found = await (
        await conn.execute(
            """SELECT c.relname, pg_get_indexdef(i.indexrelid), i.indisunique FROM pg_index i
               JOIN pg_class c ON c.oid = i.indexrelid
               WHERE i.indrelid = to_regclass(%s) AND NOT i.indisprimary ORDER BY c.relname""",
            (TABLE,),
        )
    ).fetchall()
    for name, definition, unique in found:
        label = f"index {name}"
        parent = f"{name}_new"
        await conn.execute(_index_sql(definition, name, parent, f"ONLY {_NEW}", bool(unique)))
        for remainder in range(partitions):
            progress(label, remainder, partitions)
            child = _partition(remainder)
            child_index = f"{child}_{name.removeprefix(TABLE + '_')}"
            await conn.execute(_index_sql(definition, name, child_index, child, bool(unique)))
            await conn.execute(
                sql.SQL("ALTER INDEX {} ATTACH PARTITION {}").format(
                    sql.Identifier(parent), sql.Identifier(child_index)
                )
            )
        progress(label, partitions, partitions)
    return len(found) + 1


def _index_sql(definition: str, name: str, new_name: str, target: str, unique: bool) -> sql.SQL:
    """The old index's definition, renamed and pointed at ``target``; a unique one also keyed by user."""
    pattern = re.compile(rf"^(CREATE (?:UNIQUE )?INDEX) {re.escape(name)} ON (?:\S+\.)?{TABLE} USING (\w+) \((.*)$")
    matched = pattern.match(definition)
    if matched is None:
        raise SchemaError(f"cannot read the definition of index {name}: {definition}")
    head, method, rest = matched.groups()
    if unique and not re.match(r"user_id[,)]", rest):
        rest = f"user_id, {rest}"
    return sql.SQL(f"{head} {new_name} ON {target} USING {method} ({rest}")


async def _foreign_keys(conn: AsyncConnection) -> None:
    """The old table's references, its link to a memory's previous version keyed by user."""
    found = await (
        await conn.execute(
            """SELECT conname, pg_get_constraintdef(oid), confrelid = conrelid FROM pg_constraint
               WHERE contype = 'f' AND conrelid = to_regclass(%s) ORDER BY conname""",
            (TABLE,),
        )
    ).fetchall()
    for name, definition, own in found:
        if own:
            if "(previous_id)" not in definition:
                raise SchemaError(f"{TABLE} has a reference to itself this command does not know: {definition}")
            definition = (
                f"FOREIGN KEY (user_id, previous_id) REFERENCES {_NEW}(user_id, id) ON DELETE SET NULL (previous_id)"
            )
        await conn.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                sql.Identifier(_NEW),
                sql.Identifier(name),
                sql.SQL(definition),
            )
        )
