"""Hybrid retrieval over document chunks: HNSW cosine and full text in one SQL statement, fused by rank.

Scoped to the user in SQL (and, in a thread, to the user's documents shared with
every thread plus those added to that thread). The statement, the full-text query
and the fusion are ``memory.retrieval``'s, as for long-term memory.
"""

from __future__ import annotations

import uuid

import numpy as np
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from memory.documents.records import CHUNK_COLUMNS, ChunkRecord, DocumentHit
from memory.embeddings import Embedder
from memory.retrieval.fusion import TEXT_WEIGHT, VECTOR_WEIGHT, reciprocal_rank
from memory.retrieval.query import HybridQuery, InThread, SearchTable
from memory.retrieval.words import text_query

CHUNKS = SearchTable(
    name="document_chunks",
    alias="c",
    columns=sql.SQL(CHUNK_COLUMNS),
    ties=("id",),
    joins=sql.SQL("\nJOIN documents d ON d.id = c.document_id"),
)


class DocumentSearch:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        embedder: Embedder,
        *,
        vector_weight: float = VECTOR_WEIGHT,
        text_weight: float = TEXT_WEIGHT,
    ) -> None:
        self.pool = pool
        self.embedder = embedder
        self.vector_weight = vector_weight
        self.text_weight = text_weight

    async def search(
        self,
        user_id: uuid.UUID,
        query: str,
        *,
        thread_id: uuid.UUID | None = None,
        limit: int = 8,
        depth: int = 50,
    ) -> list[DocumentHit]:
        """Best first. Without ``thread_id`` every document of the user is searched."""
        if not query.strip():
            return []
        vector = (await self.embedder.queries([query]))[0]
        statements = HybridQuery(CHUNKS, user_id, (InThread(thread_id),))
        params = statements.params(
            vector=np.asarray(vector, dtype=np.float32), text=text_query(query), depth=max(depth, limit)
        )
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(statements.fused(text_ids=False), params)
            rows = await cur.fetchall()
        hits = []
        for row in rows:
            vector_rank, text_rank, distance = row.pop("vector_rank"), row.pop("text_rank"), row.pop("distance")
            hits.append(
                DocumentHit(
                    chunk=ChunkRecord(**row),
                    score=reciprocal_rank(
                        vector_rank, text_rank, vector_weight=self.vector_weight, text_weight=self.text_weight
                    ),
                    vector_rank=vector_rank,
                    text_rank=text_rank,
                    similarity=None if distance is None else 1.0 - float(distance),
                )
            )
        hits.sort(key=lambda h: (-h.score, h.chunk.document_name, h.chunk.ordinal))
        return hits[:limit]
