"""Hybrid retrieval: pgvector HNSW cosine search and Postgres full-text search, fused by reciprocal rank.

Both searches run in one SQL statement scoped to the user; Python then fuses the
two rankings and adjusts by importance, recency and any period the query names.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from psycopg.rows import class_row, dict_row
from psycopg_pool import AsyncConnectionPool

from memory.embeddings import Embedder
from memory.long_term.records import MEMORY_COLUMNS, MemoryRecord
from memory.long_term.term_stats import TermStatsCache
from memory.long_term.timeframe import period_in

# Words too common to help a full-text match (English and a few other languages); others count.
STOPWORDS = frozenset(
    (
        "a an and are as at be been but by can could did do does for from had has have he her his how i if in "
        "into is it its me my of on or our she so than that the their them then there these they this to us "
        "was we were what when where which who whom why will with would you your doing about after before "
        "just also very de la le les des du et en un une el los las y o que der die das und ein eine ist "
        "nicht"
    ).split()
)
# Tuned on LoCoMo (shared/bench): a small k and a heavier vector weight beat the usual k=60, 1:1.
RRF_K = 10
# A word expected in more of the user's memories than this is too common to rank by (see term_stats).
COMMON_MATCHES = 1500
# Matches ranked at most, a safety net for when the statistics are stale; above COMMON_MATCHES on purpose.
TEXT_SCAN_CAP = 4000


@dataclass(frozen=True)
class SearchHit:
    memory: MemoryRecord
    score: float
    vector_rank: int | None
    text_rank: int | None
    similarity: float | None


def searchable(hit: SearchHit) -> str:
    """The words the full-text search reads in a memory: its speaker's name and its text."""
    return f"{hit.memory.speaker or ''} {hit.memory.text}"


def distinctive_words(query: str, *, max_terms: int = 16) -> list[str]:
    """The query's words that can tell memories apart (no stopwords, no single letters), lower-cased, in order."""
    words: list[str] = []
    for word in re.findall(r"\w+", query.lower()):
        if word not in STOPWORDS and word not in words and (len(word) > 1 or not word.isascii()):
            words.append(word)
    return words[:max_terms]


def text_query(query: str, *, max_terms: int = 16, matches: Callable[[str], float] | None = None) -> str | None:
    """An OR query of the query's distinctive words, for ``to_tsquery('simple', ...)``.

    With ``matches`` (expected matches of a word), words too common to be worth ranking are left
    out; when every word is that common, only memories holding all of them are asked for.
    """
    words = distinctive_words(query, max_terms=max_terms)
    if matches is None or not words:
        return " | ".join(words) or None
    rare = [w for w in words if matches(w) <= COMMON_MATCHES]
    return " | ".join(rare) if rare else " & ".join(words)


_TEXT_SQL = """
SELECT id FROM (
    SELECT id, said_at, seq, ts_rank_cd(tsv, to_tsquery('simple', %(text)s), 1) AS relevance FROM (
        SELECT id, said_at, seq, tsv FROM memories
        WHERE user_id = %(user)s AND valid_to IS NULL AND (%(pinned)s OR NOT pinned)
          AND tsv @@ to_tsquery('simple', %(text)s)
        LIMIT %(scan_cap)s) matched
) ranked
ORDER BY relevance DESC, said_at, seq LIMIT %(depth)s
"""

# Each id found by either search with its rank in each (``vec`` and ``fts`` are the two searches' CTEs).
FUSED_RANKS = """
    SELECT id, min(vector_rank) AS vector_rank, min(text_rank) AS text_rank, min(distance) AS distance FROM (
        SELECT id, rank AS vector_rank, NULL::bigint AS text_rank, distance FROM vec
        UNION ALL
        SELECT id, NULL::bigint, rank, NULL::double precision FROM fts
    ) both_lists GROUP BY id"""

# The vector search, joined with the full-text ranking found meanwhile (``text_ids``, best first).
_SQL = f"""
WITH vec AS MATERIALIZED (
    SELECT id, row_number() OVER (ORDER BY distance, said_at, seq) AS rank, distance FROM (
        SELECT id, said_at, seq, embedding <=> %(vector)s AS distance FROM memories
        WHERE user_id = %(user)s AND valid_to IS NULL AND (%(pinned)s OR NOT pinned)
          AND embedding IS NOT NULL
        ORDER BY embedding <=> %(vector)s LIMIT %(depth)s) nearest
), fts AS (
    SELECT id, rank FROM unnest(%(text_ids)s::uuid[]) WITH ORDINALITY AS t(id, rank)
)
SELECT {", ".join("m." + c.strip() for c in MEMORY_COLUMNS.split(","))},
       ranks.vector_rank, ranks.text_rank, m.embedding <=> %(vector)s AS distance
FROM (
{FUSED_RANKS}
) ranks
JOIN memories m ON m.id = ranks.id
WHERE m.user_id = %(user)s
"""


_COLUMNS = ", ".join("m." + c.strip() for c in MEMORY_COLUMNS.split(","))
_NEIGHBOURS = f"""
SELECT DISTINCT ON (m.id) {_COLUMNS}
FROM unnest(%s::uuid[], %s::bigint[]) AS t(thread_id, seq)
CROSS JOIN LATERAL (
    (SELECT * FROM memories WHERE user_id = %s AND thread_id = t.thread_id AND kind = 'episodic'
       AND valid_to IS NULL AND seq < t.seq ORDER BY seq DESC LIMIT 1)
    UNION ALL
    (SELECT * FROM memories WHERE user_id = %s AND thread_id = t.thread_id AND kind = 'episodic'
       AND valid_to IS NULL AND seq > t.seq ORDER BY seq LIMIT 1)
) m
"""


@dataclass(frozen=True)
class Weights:
    vector: float = 1.5
    text: float = 1.0
    importance: float = 0.2
    recency: float = 0.1
    recency_half_life_days: float = 90.0
    period: float = 0.5


class HybridSearch:
    def __init__(self, pool: AsyncConnectionPool, embedder: Embedder, *, weights: Weights | None = None) -> None:
        self.pool = pool
        self.embedder = embedder
        self.weights = weights or Weights()
        self.term_stats = TermStatsCache(pool)

    async def _text_ranking(self, params: dict[str, object]) -> list[uuid.UUID]:
        if params["text"] is None:
            return []
        async with self.pool.connection() as conn:
            rows = await (await conn.execute(_TEXT_SQL, params)).fetchall()
        return [row[0] for row in rows]

    async def neighbours(self, user_id: uuid.UUID, hits: Collection[MemoryRecord]) -> list[MemoryRecord]:
        """The turns just before and after each given turn, in its thread."""
        turns = [h for h in hits if h.kind == "episodic" and h.thread_id is not None and h.seq is not None]
        if not turns:
            return []
        async with self.pool.connection() as conn, conn.cursor(row_factory=class_row(MemoryRecord)) as cur:
            await cur.execute(
                _NEIGHBOURS,
                (
                    [t.thread_id for t in turns],
                    [t.seq for t in turns],
                    user_id,
                    user_id,
                ),
            )
            return await cur.fetchall()

    async def search(
        self,
        user_id: uuid.UUID,
        query: str,
        *,
        now: datetime,
        limit: int = 50,
        depth: int = 100,
        exclude: Collection[uuid.UUID] = (),
        include_pinned: bool = True,
        vector_query: str | None = None,
    ) -> list[SearchHit]:
        """Best first. ``vector_query`` replaces ``query`` for the embedding (e.g. without names)."""
        stats = await self.term_stats.get()
        params: dict[str, object] = {
            "user": user_id,
            "text": text_query(query, matches=lambda word: stats.expected_matches(user_id, word)),
            "depth": depth,
            "pinned": include_pinned,
            "scan_cap": TEXT_SCAN_CAP,
        }
        # The embedding comes first, on its own: beside Postgres's full-text ranking, the two halve each
        # other's speed when the embedder has every core.
        vectors = await self.embedder.queries([vector_query or query])
        params["text_ids"] = await self._text_ranking(params)
        params["vector"] = np.asarray(vectors[0])
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(_SQL, params)
            rows = await cur.fetchall()
        period = period_in(query, now)
        hits = []
        for row in rows:
            vector_rank, text_rank, distance = row.pop("vector_rank"), row.pop("text_rank"), row.pop("distance")
            memory = MemoryRecord(**row)
            if memory.message_id in exclude:
                continue
            hits.append(
                SearchHit(
                    memory,
                    self._score(memory, vector_rank, text_rank, now, period),
                    vector_rank,
                    text_rank,
                    None if distance is None else 1.0 - float(distance),
                )
            )
        hits.sort(key=lambda h: (-h.score, h.memory.said_at, h.memory.seq or 0, str(h.memory.id)))
        return hits[:limit]

    def _score(
        self,
        memory: MemoryRecord,
        vector_rank: int | None,
        text_rank: int | None,
        now: datetime,
        period: tuple[datetime, datetime] | None,
    ) -> float:
        w = self.weights
        fused = 0.0
        if vector_rank is not None:
            fused += w.vector / (RRF_K + vector_rank)
        if text_rank is not None:
            fused += w.text / (RRF_K + text_rank)
        age_days = max(0.0, (now - memory.said_at).total_seconds() / 86400)
        recency = math.exp(-age_days * math.log(2) / w.recency_half_life_days)
        boost = 1.0 + w.importance * (memory.importance - 0.5) + w.recency * recency
        if period is not None and period[0] <= memory.said_at < period[1]:
            boost += w.period
        return fused * boost
