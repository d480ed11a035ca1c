"""Hybrid retrieval over document chunks: HNSW cosine and full text in one SQL statement, fused by rank.

Scoped to the user in SQL (and, in a thread, to the user's documents shared with
every thread plus those added to that thread). The full-text query and the
reciprocal-rank constant are the long-term memory search's own.
"""

from __future__ import annotations

import uuid

import numpy as np
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from memory.documents.records import CHUNK_COLUMNS, ChunkRecord, DocumentHit
from memory.embeddings import Embedder
from memory.long_term.search import FUSED_RANKS, RRF_K, text_query

_SCOPE = "user_id = %(user)s AND (%(every_thread)s OR thread_id IS NULL OR thread_id = %(thread)s)"
_SQL = f"""
WITH vec AS MATERIALIZED (
    SELECT id, row_number() OVER (ORDER BY distance, id) AS rank, distance FROM (
        SELECT id, embedding <=> %(vector)s AS distance FROM document_chunks
        WHERE {_SCOPE} AND embedding IS NOT NULL
        ORDER BY embedding <=> %(vector)s LIMIT %(depth)s) nearest
), fts AS MATERIALIZED (
    SELECT id, row_number() OVER (ORDER BY relevance DESC, id) AS rank FROM (
        SELECT id, ts_rank_cd(tsv, to_tsquery('simple', %(text)s), 1) AS relevance FROM document_chunks
        WHERE %(text)s::text IS NOT NULL AND {_SCOPE} AND tsv @@ to_tsquery('simple', %(text)s)
        ORDER BY relevance DESC LIMIT %(depth)s) matched
)
SELECT {CHUNK_COLUMNS}, ranks.vector_rank, ranks.text_rank, c.embedding <=> %(vector)s AS distance
FROM (
{FUSED_RANKS}
) ranks
JOIN document_chunks c ON c.id = ranks.id
JOIN documents d ON d.id = c.document_id
WHERE c.user_id = %(user)s
"""


class DocumentSearch:
    def __init__(
        self, pool: AsyncConnectionPool, embedder: Embedder, *, vector_weight: float = 1.5, text_weight: float = 1.0
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
        params = {
            "user": user_id,
            "thread": thread_id,
            "every_thread": thread_id is None,
            "vector": np.asarray(vector, dtype=np.float32),
            "text": text_query(query),
            "depth": max(depth, limit),
        }
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(_SQL, params)
            rows = await cur.fetchall()
        hits = []
        for row in rows:
            vector_rank, text_rank, distance = row.pop("vector_rank"), row.pop("text_rank"), row.pop("distance")
            similarity = None if distance is None else 1.0 - float(distance)
            score = 0.0
            if vector_rank is not None:
                score += self.vector_weight / (RRF_K + vector_rank)
            if text_rank is not None:
                score += self.text_weight / (RRF_K + text_rank)
            hits.append(
                DocumentHit(
                    chunk=ChunkRecord(**row),
                    score=score,
                    vector_rank=vector_rank,
                    text_rank=text_rank,
                    similarity=similarity,
                )
            )
        hits.sort(key=lambda h: (-h.score, h.chunk.document_name, h.chunk.ordinal))
        return hits[:limit]
