"""Re-embedding every document chunk with another embedding model (possibly of another dimension)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from psycopg_pool import AsyncConnectionPool

from memory.db.vectors import store_vectors
from memory.documents.chunking import passage_of
from memory.documents.store import DocumentStore
from memory.embeddings import Embedder

Progress = Callable[[int, int], None]


async def reembed_documents(
    pool: AsyncConnectionPool, embedder: Embedder, *, batch: int = 64, progress: Progress | None = None
) -> int:
    """Embed every chunk again with ``embedder`` (the vector column is resized first if needed)."""
    async with pool.connection() as conn, conn.transaction():
        row = await (
            await conn.execute(
                "SELECT atttypmod FROM pg_attribute WHERE attrelid = 'document_chunks'::regclass"
                " AND attname = 'embedding'"
            )
        ).fetchone()
        if row is None or int(row[0]) != embedder.dim:
            await DocumentStore.set_dimension(conn, embedder.dim)
        total_row = await (await conn.execute("SELECT count(*) FROM document_chunks")).fetchone()
    total = int(total_row[0]) if total_row else 0
    done = 0
    last = uuid.UUID(int=0)
    while True:
        async with pool.connection() as conn:
            rows = await (
                await conn.execute(
                    "SELECT id, section, text FROM document_chunks WHERE id > %s ORDER BY id LIMIT %s", (last, batch)
                )
            ).fetchall()
        if not rows:
            break
        vectors = await embedder.passages([passage_of(r[1], r[2]) for r in rows])
        await store_vectors(pool, "document_chunks", [r[0] for r in rows], vectors)
        last = rows[-1][0]
        done += len(rows)
        if progress:
            progress(done, total)
    return done
