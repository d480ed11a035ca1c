"""Writing new embeddings over old ones (a change of embedder re-embeds memories and document chunks)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import numpy as np
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from memory.embeddings import Vectors


async def store_vectors(pool: AsyncConnectionPool, table: str, ids: Sequence[uuid.UUID], vectors: Vectors) -> None:
    """Set ``embedding`` of each row of ``table`` (``memories`` or ``document_chunks``), in one transaction."""
    query = sql.SQL("UPDATE {} SET embedding = %s WHERE id = %s").format(sql.Identifier(table))
    async with pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
        await cur.executemany(
            query, [(np.asarray(v, dtype=np.float32), row_id) for row_id, v in zip(ids, vectors, strict=True)]
        )
