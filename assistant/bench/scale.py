"""`assistant bench scale`: long-term retrieval, context assembly and HNSW recall as a user's memories grow."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from psycopg import sql

from assistant.bench.corpus import Composer, Progress, cached_vectors, diary_sentences, questions
from assistant.bench.hnsw import HnswSetting, sweep
from assistant.bench.stats import machine, summary
from assistant.heap import settle_heap
from assistant.providers.embedders import QueryCache, build_embedder
from assistant.runtime import Runtime, load_tokenizer
from assistant.settings import Settings
from memory.conversations import Thread
from memory.embeddings import Embedder, Vectors
from memory.errors import InvalidInputError
from memory.long_term.search import MEMORIES
from memory.long_term.store import NewMemory
from memory.long_term.tier import DEPTH
from memory.retrieval.query import CurrentVersions, HybridQuery, Pinned
from memory.retrieval.reembed import CONTEXT_VECTORS, MEMORY_VECTORS, VectorColumn, create_index

INSERT_BATCH = 1000
WARMUP = 10
RECALL_QUERIES = 50
CONTEXT_MODEL = "fake"
CONTEXT_WINDOW = 8192
NEAREST = 10  # the vector leg of the memories' hybrid search, cut here
# Turns per conversation: each memory is a turn of one, so it has neighbours and a context vector as chat turns do.
SESSION_TURNS = 20


class TimedEmbedder:
    """Passes calls through and keeps how long each query embedding took.

    The app's query cache is kept (one turn embeds its query once for every search), but ``forget`` empties it
    before each timed call: the same questions come back at every size and must be embedded each time.
    """

    def __init__(self, inner: Embedder) -> None:
        self.base = inner.inner if isinstance(inner, QueryCache) else inner
        self.cached = isinstance(inner, QueryCache)
        self.inner: Embedder = inner
        self.name = inner.name
        self.dim = inner.dim
        self.query_ms: list[float] = []

    def forget(self) -> None:
        if self.cached:
            self.inner = QueryCache(self.base)

    async def queries(self, texts: Sequence[str]) -> Vectors:
        started = time.perf_counter()
        vectors = await self.inner.queries(texts)
        self.query_ms.append((time.perf_counter() - started) * 1000)
        return vectors

    async def passages(self, texts: Sequence[str]) -> Vectors:
        return await self.inner.passages(texts)


@dataclass
class _Bench:
    runtime: Runtime
    embedder: TimedEmbedder
    users: list[uuid.UUID]
    composer: Composer
    questions: list[str]
    now: datetime
    progress: Progress | None
    bulk: bool = False  # load with the vector index dropped, then build it once, as a bulk import would
    index_memory: str | None = None  # maintenance_work_mem for the index builds; None: the server's own
    threads: dict[uuid.UUID, Thread] = field(default_factory=dict)
    sessions: dict[tuple[uuid.UUID, int], uuid.UUID] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)
    last_build_s: float | None = None

    def tick(self, label: str, done: int, total: int) -> None:
        if self.progress:
            self.progress(label, done, total)

    async def insert(self, start: int, stop: int) -> float:
        """Store memories ``start..stop`` through the app's write path; memories per second."""
        if self.bulk:
            async with self.runtime.pool.connection() as conn:
                for column in (MEMORY_VECTORS, CONTEXT_VECTORS):
                    await conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(column.index)))
        spent = 0.0
        for first in range(start, stop, INSERT_BATCH):
            last = min(stop, first + INSERT_BATCH)
            memories = [
                NewMemory(
                    user_id=self.users[i % len(self.users)],
                    kind="episodic",
                    text=text,
                    speaker="user",
                    role="user",
                    thread_id=await self.session(i),
                    seq=(i // len(self.users)) % SESSION_TURNS,
                    said_at=self.now - timedelta(days=float(self.composer.age_days[i])),
                )
                for i, text in zip(range(first, last), self.composer.texts(first, last), strict=True)
            ]
            vectors = self.composer.embeddings(first, last)
            started = time.perf_counter()
            ids = await self.runtime.memories.store.add_many(memories, vectors)
            spent += time.perf_counter() - started
            if len(ids) != len(memories):
                raise RuntimeError(f"stored {len(ids)} of {len(memories)} memories: message ids collided")
            self.tick(f"inserting to {stop:,}", last, stop)
        if self.bulk:
            self.tick(f"building the vector index over {stop:,}", 0, 1)
            self.last_build_s = await self.build_index()
            self.phases[f"index_build_{stop}"] = round(self.last_build_s, 2)
            self.phases[f"context_index_build_{stop}"] = round(await self.build_index(CONTEXT_VECTORS), 2)
        return (stop - start) / spent if spent else 0.0

    async def session(self, index: int) -> uuid.UUID:
        """The conversation memory ``index`` was said in: its user's turns, ``SESSION_TURNS`` to a conversation."""
        user_id = self.users[index % len(self.users)]
        key = (user_id, index // len(self.users) // SESSION_TURNS)
        if key not in self.sessions:
            thread = await self.runtime.conversations.create_thread(user_id, title=f"scale session {key[1]}")
            self.sessions[key] = thread.id
        return self.sessions[key]

    async def thread(self, user_id: uuid.UUID) -> Thread:
        if user_id not in self.threads:
            self.threads[user_id] = await self.runtime.conversations.create_thread(user_id, title="scale benchmark")
        return self.threads[user_id]

    async def latencies(self) -> dict[str, dict[str, float]]:
        """Retrieval and full context assembly per query, after a warm-up."""
        retrieval: list[float] = []
        assembly: list[float] = []
        embedding: list[float] = []
        for number, query in enumerate(self.questions):
            user_id = self.users[number % len(self.users)]
            self.embedder.query_ms.clear()
            self.embedder.forget()
            started = time.perf_counter()
            await self.searches(user_id, query)
            elapsed = (time.perf_counter() - started) * 1000
            thread = await self.thread(user_id)
            message = await self.runtime.conversations.append_message(thread, "user", query, speaker="user")
            await self.runtime.short_term.record(thread, message)
            self.embedder.forget()  # assembly embeds the query itself, as a turn does
            started = time.perf_counter()
            await self.runtime.context.build(thread, message, model=CONTEXT_MODEL, window=CONTEXT_WINDOW, now=self.now)
            built = (time.perf_counter() - started) * 1000
            if number >= WARMUP:
                retrieval.append(elapsed)
                assembly.append(built)
                embedding.append(self.embedder.query_ms[0])
            self.tick("queries", number + 1, len(self.questions))
        return {
            "retrieval_ms": summary(retrieval),
            "assembly_ms": summary(assembly),
            "embedding_ms": summary(embedding),
        }

    async def searches(self, user_id: uuid.UUID, query: str) -> None:
        """Long-term memory's hybrid search as a turn runs it: as deep, with the legs the settings turn on."""
        settings = self.runtime.settings
        await self.runtime.memories.searcher.search(
            user_id,
            query,
            now=self.now,
            limit=3 * DEPTH,
            depth=DEPTH,
            include_pinned=False,
            context=settings.recall_context_vectors,
            centred=settings.recall_centred,
        )

    async def recall(self) -> tuple[float, bool, dict[str, str]]:
        """Mean recall@10 of the HNSW index against exact search, whether the index was used, HNSW settings."""
        sample = self.questions[WARMUP : WARMUP + RECALL_QUERIES]
        vectors = await self.embedder.inner.queries(sample)
        scores = []
        searched = (CurrentVersions(), Pinned(include=True))
        async with self.runtime.pool.connection() as conn:
            # Each query in a transaction of its own, so SET LOCAL cannot outlive the exact one; and never
            # prepared, since a plan cached while index scans were off would be reused for the HNSW run.
            for number, vector in enumerate(vectors):
                query = HybridQuery(MEMORIES, self.users[(WARMUP + number) % len(self.users)], searched)
                nearest, params = query.nearest_ids(), query.params(vector=vector, depth=NEAREST)
                async with conn.transaction():
                    rows = await (await conn.execute(nearest, params, prepare=False)).fetchall()
                found = {row[0] for row in rows}
                async with conn.transaction():
                    await conn.execute("SET LOCAL enable_indexscan = off")
                    rows = await (await conn.execute(nearest, params, prepare=False)).fetchall()
                exact = {row[0] for row in rows}
                if exact:
                    scores.append(len(found & exact) / len(exact))
            async with conn.transaction():
                explain = sql.SQL("EXPLAIN {}").format(nearest)
                plan = await (await conn.execute(explain, params, prepare=False)).fetchall()
                hnsw = {
                    name: str((await (await conn.execute(f"SHOW hnsw.{name}")).fetchall())[0][0])
                    for name in ("ef_search", "iterative_scan")
                }
        # Partitioned (``assistant db partition``), the plan names the partition's index: memories_p3_embedding_idx.
        used = any(re.search(r"memories(_p\d+)?_embedding_idx", str(row[0])) for row in plan)
        return round(float(np.mean(scores)) if scores else 0.0, 4), used, hnsw

    async def hnsw_sweep(self, settings: Sequence[HnswSetting], ef_searches: Sequence[int]) -> list[dict[str, Any]]:
        """Other HNSW settings over the memories stored (``assistant/bench/hnsw.py``), on the recall queries."""
        vectors = await self.embedder.inner.queries(self.questions[WARMUP : WARMUP + RECALL_QUERIES])
        async with self.runtime.pool.connection() as conn:
            return await sweep(conn, self.users, vectors, settings, ef_searches, self.progress)

    async def settle(self) -> None:
        """The table as autovacuum leaves it a minute after a bulk insert: dead rows (each stored turn rewrites
        its predecessor's context vector) vacuumed and statistics fresh. Search reads the statistics afresh;
        queries timed while autovacuum still works on the table measure autovacuum."""
        async with self.runtime.pool.connection() as conn:
            await conn.execute("VACUUM (ANALYZE) memories")
        self.runtime.memories.searcher.term_stats.invalidate()

    async def rebuild_index(self) -> float:
        """Seconds to build the HNSW index over the whole table; drop and build share one transaction."""
        if self.bulk and self.last_build_s is not None:
            return self.last_build_s  # just built over every memory, and timed
        return await self.build_index(drop=True)

    async def build_index(self, vectors: VectorColumn = MEMORY_VECTORS, *, drop: bool = False) -> float:
        async with self.runtime.pool.connection() as conn, conn.transaction():
            if self.index_memory:
                await conn.execute("SELECT set_config('maintenance_work_mem', %s, true)", (self.index_memory,))
            if drop:
                # An error rolls the DROP back with the rest, so the index is never left missing.
                await conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(vectors.index)))
            started = time.perf_counter()
            await create_index(conn, vectors)
            return time.perf_counter() - started

    async def cleanup(self) -> None:
        for user_id in self.users:
            await self.runtime.short_term.forget_user(user_id)
            await self.runtime.conversations.delete_user(user_id)


async def run_scale_bench(
    settings: Settings,
    *,
    sizes: Sequence[int],
    queries: int = 200,
    users: int = 1,
    sentences: int = 4000,
    keep: bool = False,
    seed: int = 0,
    hnsw_settings: Sequence[HnswSetting] = (),
    ef_searches: Sequence[int] = (40, 100, 200),
    bulk: bool = False,
    index_memory: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Grow bench users' memories through ``sizes`` (total memories); time retrieval and assembly at each;
    with ``hnsw_settings``, compare those index settings at the largest size."""
    ordered = sorted(set(sizes))
    if not ordered or ordered[0] < users:
        raise InvalidInputError("every size needs at least one memory per user")
    # Every search of a turn (memories and documents) goes through the one timed embedder, as through the app's.
    embedder = TimedEmbedder(build_embedder(settings))
    runtime = await Runtime.start(settings, chat=False, embedder=embedder)
    await load_tokenizer(CONTEXT_MODEL)  # assembly counts with it; the app loads it before freezing its heap
    settle_heap()  # as the app does once started
    bench: _Bench | None = None
    try:
        clock = time.perf_counter()
        texts = diary_sentences(sentences, seed)
        vectors = await cached_vectors(embedder.inner, texts, settings.data_dir / "bench-cache", progress=progress)
        embed_s = time.perf_counter() - clock
        tag = uuid.uuid4().hex[:8]
        names = [f"bench-scale-{tag}"] if users == 1 else [f"bench-scale-{tag}-{n}" for n in range(users)]
        bench = _Bench(
            runtime,
            embedder,
            [(await runtime.conversations.ensure_user(name)).id for name in names],
            Composer(texts, vectors, ordered[-1], seed),
            questions(queries + WARMUP, seed, avoid=texts),
            datetime.now(UTC),
            progress,
            bulk=bulk,
            index_memory=index_memory,
        )
        bench.phases["sentences"] = round(embed_s, 2)
        results: dict[str, Any] = {}
        stored = 0
        hnsw: dict[str, str] = {}
        for size in ordered:
            clock = time.perf_counter()
            rate = await bench.insert(stored, size)
            stored = size
            bench.phases[f"insert_{size}"] = round(time.perf_counter() - clock, 2)
            clock = time.perf_counter()
            await bench.settle()
            # The benchmark's own objects (its corpus, its sessions) are no part of the app: out of the
            # collector's sight, as the app's start-up objects are, they add nothing to its full passes.
            settle_heap()
            bench.phases[f"vacuum_analyze_{size}"] = round(time.perf_counter() - clock, 2)
            clock = time.perf_counter()
            figures = await bench.latencies()
            bench.phases[f"queries_{size}"] = round(time.perf_counter() - clock, 2)
            clock = time.perf_counter()
            recall, used, hnsw = await bench.recall()
            bench.phases[f"recall_{size}"] = round(time.perf_counter() - clock, 2)
            results[str(size)] = {
                "insert_per_s": round(rate, 1),
                **figures,
                "hnsw_recall_at_10": recall,
                "hnsw_used": used,
            }
        sweep_rows: list[dict[str, Any]] = []
        if hnsw_settings:
            clock = time.perf_counter()
            sweep_rows = await bench.hnsw_sweep(hnsw_settings, ef_searches)
            bench.phases["hnsw_settings"] = round(time.perf_counter() - clock, 2)
        index_build_s = await bench.rebuild_index()
        bench.phases["index_build"] = round(index_build_s, 2)
        # The cleanup below still adds its time to this same phases dict.
        return {
            "benchmark": "scale",
            "embedder": embedder.name,
            "sentences": len(texts),
            "queries": queries,
            "users": users,
            "sizes": results,
            "index_build_s": round(index_build_s, 2),
            "bulk": bulk,
            "index_memory": index_memory,
            "ef_search": int(hnsw["ef_search"]),
            "iterative_scan": hnsw["iterative_scan"],
            **({"hnsw_settings": sweep_rows} if sweep_rows else {}),
            "phases_s": bench.phases,
            "machine": machine(),
        }
    finally:
        if bench is not None and not keep:
            clock = time.perf_counter()
            await bench.cleanup()
            bench.phases["cleanup"] = round(time.perf_counter() - clock, 2)
        await runtime.close()


async def run_scale_suite(
    settings: Settings,
    *,
    sizes: Sequence[int],
    users: Sequence[int] = (1,),
    queries: int = 200,
    sentences: int = 4000,
    keep: bool = False,
    hnsw: Sequence[HnswSetting] = (),
    ef_searches: Sequence[int] = (40, 100, 200),
    bulk: bool = False,
    index_memory: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The scale benchmark once per user count (one user holding every memory; many users sharing the table)."""
    runs = []
    for count in sorted(set(users)):
        report = None if progress is None else _labelled(progress, f"{count} user{'s' if count > 1 else ''}")
        runs.append(
            await run_scale_bench(
                settings,
                sizes=sizes,
                queries=queries,
                users=count,
                sentences=sentences,
                keep=keep,
                hnsw_settings=hnsw,
                ef_searches=ef_searches,
                bulk=bulk,
                index_memory=index_memory,
                progress=report,
            )
        )
    first = runs[0]
    return {
        "benchmark": "scale",
        "embedder": first["embedder"],
        "sentences": first["sentences"],
        "queries": queries,
        "runs": runs,
        "machine": machine(),
    }


def _labelled(progress: Progress, prefix: str) -> Progress:
    def report(label: str, done: int, total: int) -> None:
        progress(f"{prefix}: {label}", done, total)

    return report
