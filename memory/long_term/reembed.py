"""Re-embedding every stored memory and document chunk with another embedding model (possibly of another dimension).

In the foreground (``reembed_all``) or as a job (``queue_reembed``): the job records the new model at once, so
processes configured with it can start, and a worker embeds every row again. A run stopped midway and run again
starts over: every row is rewritten by id, so a second run leaves what the first one would have.
"""

from __future__ import annotations

from collections.abc import Sequence

from psycopg_pool import AsyncConnectionPool

from memory.embeddings import Embedder
from memory.job_queue import JobRequest, defer
from memory.long_term import context_vectors
from memory.long_term.store import MemoryStore
from memory.retrieval.reembed import (
    CONTEXT_VECTORS,
    MEMORY_VECTORS,
    VECTOR_COLUMNS,
    Progress,
    create_index,
    dimension,
    reembed,
    resize,
)


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
    await rebuild_context_vectors(pool, embedder.dim)
    return done


async def rebuild_context_vectors(pool: AsyncConnectionPool, dim: int) -> int:
    """Every turn's context vector from the new vectors, in one transaction (the column resized if needed)."""
    async with pool.connection() as conn, conn.transaction():
        if await dimension(conn, CONTEXT_VECTORS) != dim:
            await resize(conn, CONTEXT_VECTORS, dim)
        done = await context_vectors.refresh_all(conn)
        await create_index(conn, CONTEXT_VECTORS)
    return done


async def queue_reembed(pool: AsyncConnectionPool, embedder: Embedder, jobs: Sequence[JobRequest]) -> None:
    """Record ``embedder`` as the model of every vector column and queue ``jobs`` (the re-embedding), in one
    transaction; the jobs carry the model's name and size so a worker configured otherwise refuses them."""
    async with pool.connection() as conn, conn.transaction():
        await MemoryStore(pool).set_embedding_model(conn, embedder.name, embedder.dim)
        await defer(conn, jobs, {"embedder": embedder.name, "dim": str(embedder.dim)})
