"""The document service: what the chat app, the CLI and the context manager call.

``add`` checks the file, parses and chunks it in a thread, embeds only chunks whose
content is new (by hash), and writes the document with all its chunks in one
transaction: a bad file stores nothing.

With an ``index_job`` (the app's job queue), the document is stored at once with its chunks'
text and, in the same transaction, the job that embeds them (``embed_pending``): a worker fills
the vectors in, and until then the document is "indexing", found by its words only. Without
one (benchmarks, tools), ``add`` embeds first and an interrupted add stores nothing.
"""

from __future__ import annotations

import asyncio
import builtins
import hashlib
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from psycopg_pool import AsyncConnectionPool

from memory import text_input
from memory.db.at_rest import AtRest
from memory.documents.chunking import Chunk, TokenCount, chunk_blocks
from memory.documents.parsing import document_type, parse
from memory.documents.records import ChunkRecord, DocumentHit, DocumentInfo
from memory.documents.search import DocumentSearch
from memory.documents.store import DocumentStore, NewDocument
from memory.embeddings import Embedder
from memory.errors import InvalidInputError, NotFoundError
from memory.job_queue import JobRequest
from memory.retrieval.texts import chunk_text

Progress = Callable[[int, int], None]


def approximate_tokens(text: str) -> int:
    """A tokenizer-free estimate (about 4 characters a token), for callers without a model."""
    return max(1, (len(text) + 3) // 4)


def clean_name(filename: str) -> str:
    """The file's own name, without any directories or control characters (the input boundary's rule)."""
    return text_input.document_name(filename)


DOCUMENT_TABLES = ("documents", "document_chunks")


class DocumentService:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        embedder: Embedder,
        *,
        count_tokens: TokenCount = approximate_tokens,
        max_bytes: int = 20 * 1024 * 1024,
        chunk_tokens: int = 400,
        overlap_tokens: int = 60,
        embed_batch: int = 32,
    ) -> None:
        self.pool = pool
        # Set by the runtime: removed documents leave Postgres's files too (memory/db/at_rest.py).
        self.at_rest: AtRest | None = None
        self.embedder = embedder
        self.store = DocumentStore(pool)
        self.searcher = DocumentSearch(pool, embedder)
        self.count_tokens = count_tokens
        self.max_bytes = max_bytes
        self.chunk_tokens = chunk_tokens
        self.overlap_tokens = overlap_tokens
        self.embed_batch = embed_batch
        # Set by the runtime: the job that embeds a stored document's chunks (documents.embed).
        self.index_job: JobRequest | None = None

    # -- adding ----------------------------------------------------------------------------
    async def add(
        self,
        user_id: uuid.UUID,
        filename: str,
        data: bytes,
        *,
        thread_id: uuid.UUID | None = None,
        progress: Progress | None = None,
        wait: bool = True,
    ) -> DocumentInfo:
        """Store the file as a document of the user (of one thread if given); the same name replaces it.

        ``progress(done, total)`` is called with chunks embedded so far. ``wait=False`` returns once the
        document is stored and its embedding job queued (needs an ``index_job``; the result says how many
        chunks wait). Raises ``InvalidInputError`` for a file that cannot be used (nothing is stored) and
        ``NotFoundError`` for another's thread.
        """
        name = clean_name(filename)
        kind = document_type(name)
        if len(data) > self.max_bytes:
            raise InvalidInputError(
                f"{name}: the file is {len(data) / 1048576:.1f} MB, over the {self.max_bytes / 1048576:g} MB limit",
                hint="split it, or raise ASSISTANT_MAX_DOCUMENT_MB",
            )
        if not data:
            raise InvalidInputError(f"{name}: the file is empty")
        if thread_id is not None:
            await self._check_thread(user_id, thread_id)
        digest = hashlib.sha256(data).hexdigest()
        existing = await self.store.find(user_id, thread_id, name)
        if existing is not None and existing.content_hash == digest:
            if wait and existing.unembedded and self.index_job is not None:
                embedded = await self.embed_pending(user_id, existing.id, progress=progress)
                return existing.model_copy(update={"unchanged": True, "embedded": embedded, "unembedded": 0})
            if progress:
                progress(existing.chunk_count, existing.chunk_count)
            return existing.model_copy(update={"unchanged": True})
        parsed = await asyncio.to_thread(parse, name, data, max_bytes=self.max_bytes)
        chunks = await asyncio.to_thread(
            chunk_blocks,
            parsed.blocks,
            count=self.count_tokens,
            max_tokens=self.chunk_tokens,
            overlap_tokens=self.overlap_tokens,
        )
        if not chunks:
            raise InvalidInputError(f"{name}: the file contains no text besides headings")
        new = NewDocument(user_id, thread_id, name, kind, len(data), digest, parsed.pages)
        if self.index_job is None:
            vectors, embedded = await self._vectors(user_id, chunks, progress)
            saved = await self.store.save(new, chunks, vectors)
            return saved.model_copy(update={"embedded": embedded})
        # Content seen before keeps its vector; the rest waits for the job stored with the document.
        await self.store.ensure_dimension(self.embedder.dim)
        known = await self.store.known_vectors(user_id, sorted({c.content_hash for c in chunks}))
        saved = await self.store.save(new, chunks, [known.get(c.content_hash) for c in chunks], [self.index_job])
        if not wait or not saved.unembedded:
            if progress:
                progress(len(chunks) - saved.unembedded, len(chunks))
            return saved
        embedded = await self.embed_pending(user_id, saved.id, progress=progress)
        return saved.model_copy(update={"embedded": embedded, "unembedded": 0})

    async def embed_pending(
        self, user_id: uuid.UUID, document_id: uuid.UUID, *, progress: Progress | None = None
    ) -> int:
        """Give the document's chunks that have no vector one; how many passages were embedded.

        Idempotent and resumable: a chunk with a vector is skipped (run twice, the second run embeds
        nothing), each batch is stored as it is made, and a deleted document has no chunks left to embed.
        """
        document = await self.store.get(user_id, document_id)
        if document is None or not document.unembedded:
            return 0
        await self.store.ensure_dimension(self.embedder.dim)
        total, done, embedded = document.chunk_count, document.chunk_count - document.unembedded, 0
        if progress:
            progress(done, total)
        last = uuid.UUID(int=0)
        while batch := await self.store.pending(document_id, after=last, limit=self.embed_batch):
            last = batch[-1].id
            known = await self.store.known_vectors(user_id, sorted({c.content_hash for c in batch}))
            todo = {c.content_hash: chunk_text(c.section, c.text) for c in batch if c.content_hash not in known}
            if todo:
                known.update(zip(todo, await self.embedder.passages(list(todo.values())), strict=True))
                embedded += len(todo)
            await self.store.fill_vectors([(c.id, known[c.content_hash]) for c in batch])
            done += len(batch)
            if progress:
                progress(min(done, total), total)
        return embedded

    async def wait_indexed(
        self,
        user_id: uuid.UUID,
        document_id: uuid.UUID,
        *,
        timeout_s: float,
        poll_s: float = 0.25,
        progress: Progress | None = None,
    ) -> DocumentInfo | None:
        """The document once every chunk has its vector (a worker embeds them), or as it is after ``timeout_s``
        or once its job has failed for good; None if it was removed meanwhile. ``progress(done, total)``
        follows the worker."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            document = await self.store.get(user_id, document_id)
            if document is None or document.status != "indexing" or loop.time() >= deadline:
                return document
            if progress:
                progress(document.chunk_count - document.unembedded, document.chunk_count)
            await asyncio.sleep(poll_s)

    async def _vectors(
        self, user_id: uuid.UUID, chunks: Sequence[Chunk], progress: Progress | None
    ) -> tuple[builtins.list[Any], int]:
        """A vector per chunk: the stored one for content seen before, otherwise a new one (in batches)."""
        await self.store.ensure_dimension(self.embedder.dim)
        known = await self.store.known_vectors(user_id, sorted({c.content_hash for c in chunks}))
        todo: dict[str, str] = {}
        for chunk in chunks:
            if chunk.content_hash not in known:
                todo.setdefault(chunk.content_hash, chunk.passage)
        total = len(chunks)
        done = total - sum(1 for c in chunks if c.content_hash in todo)
        if progress:
            progress(done, total)
        hashes = list(todo)
        per_hash = Counter(c.content_hash for c in chunks)
        for start in range(0, len(hashes), self.embed_batch):
            batch = hashes[start : start + self.embed_batch]
            rows = await self.embedder.passages([todo[h] for h in batch])
            known.update(zip(batch, rows, strict=True))
            if progress:
                done += sum(per_hash[h] for h in batch)
                progress(done, total)
        return [known[c.content_hash] for c in chunks], len(hashes)

    async def _check_thread(self, user_id: uuid.UUID, thread_id: uuid.UUID) -> None:
        async with self.pool.connection() as conn:
            row = await (
                await conn.execute("SELECT 1 FROM threads WHERE id = %s AND user_id = %s", (thread_id, user_id))
            ).fetchone()
        if row is None:
            raise NotFoundError(f"no conversation {thread_id}")

    # -- seeing and removing ---------------------------------------------------------------
    async def list(self, user_id: uuid.UUID, *, thread_id: uuid.UUID | None = None) -> builtins.list[DocumentInfo]:
        """Newest first; with ``thread_id``, the documents that conversation can draw on."""
        return await self.store.for_user(user_id, thread_id)

    async def get(self, user_id: uuid.UUID, document_id: uuid.UUID) -> DocumentInfo:
        found = await self.store.get(user_id, document_id)
        if found is None:
            raise NotFoundError(f"no document {document_id}")
        return found

    async def resolve(self, user_id: uuid.UUID, reference: str) -> DocumentInfo:
        """A document by id, unique id prefix (at least 4 characters) or exact name."""
        reference = reference.strip()
        try:
            return await self.get(user_id, uuid.UUID(reference))
        except ValueError:
            pass
        documents = await self.store.for_user(user_id)
        by_name = [d for d in documents if d.name == reference]
        if len(by_name) == 1:
            return by_name[0]
        if len(reference) >= 4:
            by_prefix = [d for d in documents if str(d.id).startswith(reference.lower())]
            if len(by_prefix) == 1:
                return by_prefix[0]
            if by_prefix:
                raise InvalidInputError(f"{reference!r} matches several documents; give more of the id")
        if len(by_name) > 1:
            raise InvalidInputError(f"several documents are named {reference!r}; give the id")
        raise NotFoundError(f"no document {reference!r}")

    async def remove(self, user_id: uuid.UUID, document_id: uuid.UUID) -> DocumentInfo:
        """Delete the document and its chunks; ``NotFoundError`` if it is not the user's."""
        removed = await self.store.delete(user_id, document_id)
        if removed is None:
            raise NotFoundError(f"no document {document_id}")
        if self.at_rest is not None:
            self.at_rest.schedule(DOCUMENT_TABLES)
        return removed

    async def remove_all(self, user_id: uuid.UUID) -> int:
        removed = await self.store.delete_all(user_id)
        if removed and self.at_rest is not None:
            self.at_rest.schedule(DOCUMENT_TABLES, full=True)
        return removed

    async def chunks(self, user_id: uuid.UUID, chunk_ids: Sequence[uuid.UUID]) -> builtins.list[ChunkRecord]:
        """The user's chunks with these ids (in that order), e.g. the sources cited in a reply."""
        return await self.store.chunks(user_id, chunk_ids)

    # -- searching -------------------------------------------------------------------------
    async def search(
        self, user_id: uuid.UUID, query: str, *, thread_id: uuid.UUID | None = None, limit: int = 8
    ) -> builtins.list[DocumentHit]:
        """Chunks relevant to ``query``, best first (in a thread: shared documents and that thread's)."""
        return await self.searcher.search(user_id, query, thread_id=thread_id, limit=limit)
