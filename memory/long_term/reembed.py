"""Re-embedding every stored memory with another embedding model (possibly of another dimension)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from psycopg_pool import AsyncConnectionPool

from memory.db.vectors import store_vectors
from memory.documents.reembed import reembed_documents
from memory.embeddings import Embedder
from memory.long_term.store import MemoryStore

Progress = Callable[[int, int], None]
INDEX_SQL = "CREATE INDEX IF NOT EXISTS memories_embedding_idx ON memories USING hnsw (embedding vector_cosine_ops)"


def passage_of(kind: str, text: str, speaker: str | None, role: str | None) -> str:
    """What is embedded for a memory (episodic turns carry who said them)."""
    return f"{speaker or role}: {text}" if kind == "episodic" else text


async def reembed_all(
    pool: AsyncConnectionPool, embedder: Embedder, *, batch: int = 64, progress: Progress | None = None
) -> int:
    """Embed every memory and document chunk again with ``embedder`` and record it as their model."""
    async with pool.connection() as conn, conn.transaction():
        row = await (await conn.execute("SELECT dim FROM embedding_model WHERE id = 1")).fetchone()
        if row is None or int(row[0]) != embedder.dim:
            await conn.execute("DROP INDEX IF EXISTS memories_embedding_idx")
            await conn.execute("UPDATE memories SET embedding = NULL")
            await conn.execute(f"ALTER TABLE memories ALTER COLUMN embedding TYPE vector({int(embedder.dim)})")
        await MemoryStore(pool).set_embedding_model(conn, embedder.name, embedder.dim)
        total_row = await (await conn.execute("SELECT count(*) FROM memories")).fetchone()
    total = int(total_row[0]) if total_row else 0
    done = 0
    last = uuid.UUID(int=0)
    while True:
        async with pool.connection() as conn:
            rows = await (
                await conn.execute(
                    "SELECT id, kind, text, speaker, role FROM memories WHERE id > %s ORDER BY id LIMIT %s",
                    (last, batch),
                )
            ).fetchall()
        if not rows:
            break
        vectors = await embedder.passages([passage_of(r[1], r[2], r[3], r[4]) for r in rows])
        await store_vectors(pool, "memories", [r[0] for r in rows], vectors)
        last = rows[-1][0]
        done += len(rows)
        if progress:
            progress(done, total)
    async with pool.connection() as conn:
        await conn.execute(INDEX_SQL)
    return done + await reembed_documents(pool, embedder, batch=batch)  # document chunks share the model
