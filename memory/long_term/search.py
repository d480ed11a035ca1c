"""Hybrid retrieval over long-term memory: pgvector HNSW cosine search and Postgres full-text search.

The full-text ranking runs first, then the vector search in one statement that joins
the two rankings (both built by ``memory.retrieval.query``, scoped to the user); the
context and named legs read their own indexes, beside it when the pool has connections
to spare. Python then fuses them all and adjusts by importance, recency and any period
the query names.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import numpy as np
from psycopg import AsyncConnection, sql
from psycopg.rows import class_row, dict_row
from psycopg_pool import AsyncConnectionPool

from memory.embeddings import Embedder
from memory.long_term import context_vectors, named_leg
from memory.long_term.records import MEMORY_COLUMNS, MemoryRecord
from memory.long_term.timeframe import period_in
from memory.retrieval.centring import centred_ranks
from memory.retrieval.fusion import Weights, boosted, reciprocal_rank
from memory.retrieval.query import CurrentVersions, HybridQuery, Pinned, SearchTable
from memory.retrieval.term_stats import TermStatsCache
from memory.retrieval.words import text_query

# Matches ranked at most, a safety net for when the statistics are stale; above COMMON_MATCHES on purpose.
TEXT_SCAN_CAP = 4000

MEMORIES = SearchTable(
    name="memories",
    alias="m",
    columns=sql.SQL(", ").join(sql.Identifier("m", c.strip()) for c in MEMORY_COLUMNS.split(",")),
    ties=("said_at", "seq"),
)


@dataclass(frozen=True)
class SearchHit:
    memory: MemoryRecord
    score: float
    vector_rank: int | None
    text_rank: int | None
    similarity: float | None
    context_rank: int | None = None  # found by the turn's context vector (memory/long_term/context_vectors.py)
    context_similarity: float | None = None
    context_window: str | None = None  # the words of the turn's window, when its context vector found it
    named_rank: int | None = None  # among the turns of the people the query names (memory/long_term/named_leg.py)


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


def _connections_to_spare(stats: Mapping[str, int], needed: int) -> bool:
    """Whether, by the pool's ``get_stats()``, ``needed`` connections can be had at once without anyone waiting:
    idle ones, or ones the pool may still open (it keeps them, so only the first searches open them)."""
    if stats.get("requests_waiting", 0):
        return False
    can_open = stats.get("pool_max", 0) - stats.get("pool_size", 0)
    return stats.get("pool_available", 0) + max(0, can_open) >= needed


def _with_text_ranks(
    vector_rows: list[dict[str, Any]], text_rows: list[dict[str, Any]], *, centred: bool
) -> list[dict[str, Any]]:
    """Each row either leg found once, with its rank in each: what one statement joining both returned."""
    rows = {row["id"]: row for row in vector_rows}
    for row in text_rows:
        found = rows.get(row["id"])
        if found is not None:
            found["text_rank"] = row["text_rank"]
        else:
            rows[row["id"]] = {**row, "centre_distance": None} if centred else row
    return list(rows.values())


class HybridSearch:
    def __init__(self, pool: AsyncConnectionPool, embedder: Embedder, *, weights: Weights | None = None) -> None:
        self.pool = pool
        self.embedder = embedder
        self.weights = weights or Weights()
        self.term_stats = TermStatsCache(pool, MEMORIES.name)

    async def _run_legs(
        self,
        query: HybridQuery,
        params: dict[str, Any],
        legs: dict[str, Callable[[AsyncConnection], Awaitable[list[Any]]]],
        *,
        centred: bool,
    ) -> tuple[list[dict[str, Any]], dict[str, list[Any]]]:
        """The rows of the vector and full-text legs (each with both ranks) and each other leg's hits.

        While the pool has a connection to spare for each leg, every leg runs on its own beside the vector leg
        (on two cores, 4-6 ms sooner at the median); otherwise (under load) one after another on one
        connection, so a search never waits for a second."""
        if params["text"] is not None:
            legs = {"text": functools.partial(self._text_rows, query=query, params=params), **legs}
        if legs and _connections_to_spare(self.pool.get_stats(), 1 + len(legs)):

            async def alone(leg: Callable[[AsyncConnection], Awaitable[list[Any]]]) -> list[Any]:
                async with self.pool.connection() as conn:
                    return await leg(conn)

            rows, *found = await asyncio.gather(
                alone(functools.partial(self._vector_rows, query=query, params=params, centred=centred)),
                *(alone(leg) for leg in legs.values()),
            )
            results = dict(zip(legs, found, strict=True))
        else:
            async with self.pool.connection() as conn:
                rows = await self._vector_rows(conn, query=query, params=params, centred=centred)
                results = {name: await leg(conn) for name, leg in legs.items()}
        return _with_text_ranks(rows, results.pop("text", []), centred=centred), results

    @staticmethod
    async def _vector_rows(
        conn: AsyncConnection, *, query: HybridQuery, params: dict[str, Any], centred: bool
    ) -> list[dict[str, Any]]:
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query.fused(text_ids=True, centred=centred), {**params, "text_ids": []})
            return await cur.fetchall()

    @staticmethod
    async def _text_rows(conn: AsyncConnection, *, query: HybridQuery, params: dict[str, Any]) -> list[dict[str, Any]]:
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query.text_rows(), params)
            return await cur.fetchall()

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
        context: bool = False,
        centred: bool = False,
        named: Collection[str] = (),
    ) -> list[SearchHit]:
        """Best first. ``vector_query`` replaces ``query`` for the embedding (e.g. without names); ``context``
        adds the turns' context vectors as a third leg; ``centred`` re-ranks the vector leg by what sets each
        row apart from the others (memory/retrieval/centring.py); ``named`` (speakers) searches their turns alone
        too (memory/long_term/named_leg.py)."""
        stats = await self.term_stats.get()
        statements = HybridQuery(MEMORIES, user_id, (CurrentVersions(), Pinned(include_pinned)))
        params = statements.params(
            text=text_query(query, matches=lambda word: stats.expected_matches(user_id, word)),
            depth=depth,
            scan_cap=TEXT_SCAN_CAP,
        )
        # The embedding comes first, on its own: beside Postgres's full-text ranking, the two halve each
        # other's speed when the embedder has every core.
        vectors = await self.embedder.queries([vector_query or query])
        params["vector"] = vector = np.asarray(vectors[0])
        legs: dict[str, Callable[[AsyncConnection], Awaitable[list[Any]]]] = {}
        if context:
            legs["context"] = functools.partial(
                context_vectors.context_leg,
                user_id=user_id,
                vector=vector,
                depth=min(depth, context_vectors.DEPTH),
                include_pinned=include_pinned,
            )
        if named and self.weights.named:
            legs["named"] = functools.partial(
                named_leg.named_leg,
                user_id=user_id,
                vector=vector,
                speakers=named,
                depth=min(depth, named_leg.DEPTH),
                include_pinned=include_pinned,
            )
        rows, other_legs = await self._run_legs(statements, params, legs, centred=centred)
        found: list[context_vectors.ContextHit] = other_legs.get("context", [])
        theirs: list[named_leg.NamedHit] = other_legs.get("named", [])
        period = period_in(query, now)
        if centred:
            ranks = centred_ranks(
                {
                    i: (row["vector_rank"], float(row["distance"]), row["centre_distance"])
                    for i, row in enumerate(rows)
                    if row["vector_rank"] is not None and row["distance"] is not None
                }
            )
            for i, row in enumerate(rows):
                row.pop("centre_distance")
                if i in ranks:
                    row["vector_rank"] = ranks[i]
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
        if found:
            hits = self._with_context(hits, found, exclude, now, period)
        if theirs:
            hits = self._with_named(hits, theirs, exclude, now, period)
        hits.sort(key=lambda h: (-h.score, h.memory.said_at, h.memory.seq or 0, str(h.memory.id)))
        return hits[:limit]

    def _with_context(
        self,
        hits: list[SearchHit],
        found: list[context_vectors.ContextHit],
        exclude: Collection[uuid.UUID],
        now: datetime,
        period: tuple[datetime, datetime] | None,
    ) -> list[SearchHit]:
        """The context leg adds its share of the fused score, as the vector leg would at that rank."""
        by_id = {h.memory.id: h for h in hits}
        for c in found:
            if c.memory.message_id in exclude:
                continue
            share = self.weights.context * self._score(c.memory, c.rank, None, now, period)
            hit = by_id.get(c.memory.id)
            if hit is None:
                hit = SearchHit(c.memory, 0.0, None, None, c.own_similarity)
            by_id[c.memory.id] = replace(
                hit,
                score=hit.score + share,
                context_rank=c.rank,
                context_similarity=c.similarity,
                context_window=c.window,
            )
        return list(by_id.values())

    def _with_named(
        self,
        hits: list[SearchHit],
        found: list[named_leg.NamedHit],
        exclude: Collection[uuid.UUID],
        now: datetime,
        period: tuple[datetime, datetime] | None,
    ) -> list[SearchHit]:
        """The named people's leg adds its share of the fused score, as the vector leg would at that rank."""
        by_id = {h.memory.id: h for h in hits}
        for n in found:
            if n.memory.message_id in exclude:
                continue
            share = self.weights.named * self._score(n.memory, n.rank, None, now, period)
            hit = by_id.get(n.memory.id) or SearchHit(n.memory, 0.0, None, None, n.similarity)
            by_id[n.memory.id] = replace(hit, score=hit.score + share, named_rank=n.rank)
        return list(by_id.values())

    def _score(
        self,
        memory: MemoryRecord,
        vector_rank: int | None,
        text_rank: int | None,
        now: datetime,
        period: tuple[datetime, datetime] | None,
    ) -> float:
        w = self.weights
        fused = reciprocal_rank(vector_rank, text_rank, vector_weight=w.vector, text_weight=w.text)
        return boosted(fused, w, importance=memory.importance, said_at=memory.said_at, now=now, period=period)
