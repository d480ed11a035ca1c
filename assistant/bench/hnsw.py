"""HNSW settings compared on the memories a scale benchmark stored: build time, index size, recall@10, latency.

Each setting is tried in a transaction of its own that is rolled back: the app's index
is dropped, the setting's index built, the nearest-neighbour queries timed at each
``ef_search``, and the rollback brings the app's index back as it was. ``halfvec``
indexes the vectors cast to half precision (an expression index); the exact answers
they are scored against are always those of the full-precision vectors.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from psycopg import AsyncConnection, sql

from assistant.bench.corpus import Progress
from assistant.bench.stats import summary
from memory.embeddings import Vectors
from memory.errors import InvalidInputError
from memory.retrieval.reembed import MEMORY_VECTORS

NEAREST = 10
_SWEEP_INDEX = "memories_bench_hnsw_idx"


@dataclass(frozen=True)
class HnswSetting:
    m: int
    ef_construction: int
    halfvec: bool = False

    @property
    def label(self) -> str:
        return f"m={self.m} ef_construction={self.ef_construction} {'halfvec' if self.halfvec else 'vector'}"


def parse_settings(specs: Sequence[str], *, halfvec: bool) -> list[HnswSetting]:
    """``M:EF_CONSTRUCTION`` strings (e.g. ``16:64``); with ``halfvec``, each also as a half-precision index."""
    found: list[HnswSetting] = []
    for spec in specs:
        try:
            m, ef = (int(part) for part in spec.split(":"))
        except ValueError:
            raise InvalidInputError(f"--hnsw takes M:EF_CONSTRUCTION, e.g. 16:64, not {spec!r}") from None
        if not 2 <= m <= 100 or ef < 2 * m:
            raise InvalidInputError(f"--hnsw {spec}: m must be 2..100 and ef_construction at least 2*m")
        found.append(HnswSetting(m, ef))
        if halfvec:
            found.append(HnswSetting(m, ef, halfvec=True))
    return found


def _distance(halfvec: bool, dim: int) -> sql.Composable:
    if not halfvec:
        return sql.SQL("embedding <=> %(vector)s")
    cast = sql.SQL("::halfvec({})").format(sql.Literal(dim))
    return sql.SQL("embedding{cast} <=> %(vector)s{cast}").format(cast=cast)


def _nearest(halfvec: bool, dim: int) -> sql.Composed:
    return sql.SQL(
        "SELECT id FROM memories WHERE user_id = %(user)s AND valid_to IS NULL AND embedding IS NOT NULL "
        "ORDER BY {} LIMIT {}"
    ).format(_distance(halfvec, dim), sql.Literal(NEAREST))


async def _exact(conn: AsyncConnection, users: Sequence[uuid.UUID], vectors: Vectors) -> list[set[uuid.UUID]]:
    answers = []
    async with conn.transaction():
        await conn.execute("SET LOCAL enable_indexscan = off")
        for number, vector in enumerate(vectors):
            params = {"user": users[number % len(users)], "vector": np.asarray(vector, dtype=np.float32)}
            rows = await (await conn.execute(_nearest(False, len(vector)), params, prepare=False)).fetchall()
            answers.append({row[0] for row in rows})
    return answers


async def sweep(
    conn: AsyncConnection,
    users: Sequence[uuid.UUID],
    vectors: Vectors,
    settings: Sequence[HnswSetting],
    ef_searches: Sequence[int],
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """One row per setting: build seconds, index MB and, per ef_search, recall@10 and query latency."""
    dim = len(vectors[0])
    exact = await _exact(conn, users, vectors)
    rows = []
    for number, setting in enumerate(settings):
        if progress:
            progress(f"hnsw {setting.label}", number, len(settings))
        rows.append(await _one(conn, users, vectors, exact, setting, ef_searches, dim))
    if progress:
        progress("hnsw settings", len(settings), len(settings))
    return rows


async def _one(
    conn: AsyncConnection,
    users: Sequence[uuid.UUID],
    vectors: Vectors,
    exact: list[set[uuid.UUID]],
    setting: HnswSetting,
    ef_searches: Sequence[int],
    dim: int,
) -> dict[str, Any]:
    column = (
        sql.SQL("(embedding::halfvec({})) halfvec_cosine_ops").format(sql.Literal(dim))
        if setting.halfvec
        else sql.SQL("embedding vector_cosine_ops")
    )
    build = sql.SQL("CREATE INDEX {} ON memories USING hnsw ({}) WITH (m = {}, ef_construction = {})").format(
        sql.Identifier(_SWEEP_INDEX), column, sql.Literal(setting.m), sql.Literal(setting.ef_construction)
    )
    result: dict[str, Any] = {"m": setting.m, "ef_construction": setting.ef_construction, "halfvec": setting.halfvec}
    async with conn.transaction(force_rollback=True):
        await conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(MEMORY_VECTORS.index)))
        started = time.perf_counter()
        await conn.execute(build)
        result["build_s"] = round(time.perf_counter() - started, 2)
        size = await (await conn.execute("SELECT pg_relation_size(%s)", (_SWEEP_INDEX,))).fetchone()
        result["index_mb"] = round(int(size[0]) / 2**20, 1) if size else None
        searched: dict[str, Any] = {}
        nearest = _nearest(setting.halfvec, dim)
        for ef in ef_searches:
            await conn.execute(sql.SQL("SET LOCAL hnsw.ef_search = {}").format(sql.Literal(int(ef))))
            scores: list[float] = []
            times: list[float] = []
            for number, vector in enumerate(vectors):
                params = {"user": users[number % len(users)], "vector": np.asarray(vector, dtype=np.float32)}
                started = time.perf_counter()
                found = {row[0] for row in await (await conn.execute(nearest, params, prepare=False)).fetchall()}
                times.append((time.perf_counter() - started) * 1000)
                if exact[number]:
                    scores.append(len(found & exact[number]) / len(exact[number]))
            plan = await (await conn.execute(sql.SQL("EXPLAIN {}").format(nearest), params, prepare=False)).fetchall()
            used = any(_SWEEP_INDEX in str(row[0]) for row in plan)
            searched[str(ef)] = {
                "recall_at_10": round(float(np.mean(scores)), 4) if scores else 0.0,
                "query_ms": summary(times),
                "index_used": used,
            }
        result["ef_search"] = searched
    return result
