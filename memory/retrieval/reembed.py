"""Every vector column, and re-embedding one with another embedding model (possibly of another dimension).

A vector column is a table's ``embedding`` with its HNSW cosine index, and the
definition of the text each row embeds. Re-embedding walks the table by id in
batches, so it needs no snapshot and a row added meanwhile is embedded on its way in.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from psycopg import AsyncConnection, sql
from psycopg_pool import AsyncConnectionPool

from memory.embeddings import Embedder, Vectors
from memory.retrieval.texts import CHUNK_TEXT, MEMORY_TEXT, EmbeddedText

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class VectorColumn:
    table: str
    text: EmbeddedText
    column: str = "embedding"

    @property
    def index(self) -> str:
        return f"{self.table}_{self.column}_idx"


MEMORY_VECTORS = VectorColumn("memories", MEMORY_TEXT)
# Not embedded from text: each turn's window of MEMORY_VECTORS (memory/long_term/context_vectors.py), recomputed
# after them; it has their size.
CONTEXT_VECTORS = VectorColumn("memories", MEMORY_TEXT, "context_embedding")
CHUNK_VECTORS = VectorColumn("document_chunks", CHUNK_TEXT)
# Every vector column, in the order ``reembed`` takes them; all hold vectors of the one recorded model.
VECTOR_COLUMNS = (MEMORY_VECTORS, CHUNK_VECTORS)


async def dimension(conn: AsyncConnection, vectors: VectorColumn) -> int | None:
    """The size of the column's vectors, as its type says."""
    row = await (
        await conn.execute(
            "SELECT atttypmod FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attname = %s",
            (vectors.table, vectors.column),
        )
    ).fetchone()
    return None if row is None else int(row[0])


async def resize(conn: AsyncConnection, vectors: VectorColumn, dim: int) -> None:
    """Make the column hold ``dim``-d vectors: its index and every vector in it are dropped."""
    table, column = sql.Identifier(vectors.table), sql.Identifier(vectors.column)
    await conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(vectors.index)))
    await conn.execute(sql.SQL("UPDATE {} SET {} = NULL").format(table, column))
    await conn.execute(
        sql.SQL("ALTER TABLE {} ALTER COLUMN {} TYPE vector({})").format(table, column, sql.Literal(int(dim)))
    )


async def create_index(conn: AsyncConnection, vectors: VectorColumn) -> None:
    await conn.execute(
        sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} USING hnsw ({} vector_cosine_ops)").format(
            sql.Identifier(vectors.index), sql.Identifier(vectors.table), sql.Identifier(vectors.column)
        )
    )


async def store_vectors(
    pool: AsyncConnectionPool, vectors: VectorColumn, ids: Sequence[uuid.UUID], values: Vectors
) -> None:
    """Write each row's new vector over its old one, in one transaction."""
    query = sql.SQL("UPDATE {} SET {} = %s WHERE id = %s").format(
        sql.Identifier(vectors.table), sql.Identifier(vectors.column)
    )
    async with pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
        await cur.executemany(
            query, [(np.asarray(v, dtype=np.float32), row_id) for row_id, v in zip(ids, values, strict=True)]
        )


async def reembed(
    pool: AsyncConnectionPool,
    embedder: Embedder,
    vectors: VectorColumn,
    *,
    batch: int = 64,
    progress: Progress | None = None,
) -> int:
    """Embed every row of the column's table again with ``embedder`` (the column is resized first if needed)."""
    table = sql.Identifier(vectors.table)
    async with pool.connection() as conn, conn.transaction():
        if await dimension(conn, vectors) != embedder.dim:
            await resize(conn, vectors, embedder.dim)
        total_row = await (await conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table))).fetchone()
    total = int(total_row[0]) if total_row else 0
    select = sql.SQL("SELECT id, {} FROM {} WHERE id > %s ORDER BY id LIMIT %s").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in vectors.text.columns), table
    )
    done = 0
    last = uuid.UUID(int=0)
    while True:
        async with pool.connection() as conn:
            rows = await (await conn.execute(select, (last, batch))).fetchall()
        if not rows:
            break
        values = await embedder.passages([vectors.text.build(*row[1:]) for row in rows])
        await store_vectors(pool, vectors, [row[0] for row in rows], values)
        last = rows[-1][0]
        done += len(rows)
        if progress:
            progress(done, total)
    async with pool.connection() as conn:
        await create_index(conn, vectors)
    return done
