"""Re-embedding every stored memory and document chunk with another embedding model (possibly of another dimension)."""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool

from memory.embeddings import Embedder
from memory.long_term.store import MemoryStore
from memory.retrieval.reembed import MEMORY_VECTORS, VECTOR_COLUMNS, Progress, reembed


async def reembed_all(
    pool: AsyncConnectionPool, embedder: Embedder, *, batch: int = 64, progress: Progress | None = None
) -> int:
    """Embed every vector column again with ``embedder`` and record it as their model.

    ``progress`` follows the memories, the bulk of the work."""
    async with pool.connection() as conn, conn.transaction():
        await MemoryStore(pool).set_embedding_model(conn, embedder.name, embedder.dim)
    done = 0
    for vectors in VECTOR_COLUMNS:
        done += await reembed(
            pool, embedder, vectors, batch=batch, progress=progress if vectors is MEMORY_VECTORS else None
        )
    return done
