"""The document tables: a document and all its chunks are written in one transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from psycopg import AsyncConnection
from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool

from memory.documents.chunking import Chunk
from memory.documents.records import (
    CHUNK_COLUMNS,
    DOCUMENT_COLUMNS,
    INDEX_JOB_COLUMN,
    UNEMBEDDED_COLUMN,
    ChunkRecord,
    DocumentInfo,
)
from memory.embeddings import Vectors
from memory.errors import ConfigError
from memory.job_queue import JobRequest, defer
from memory.retrieval.reembed import CHUNK_VECTORS, create_index, dimension, resize


@dataclass(frozen=True)
class PendingChunk:
    """A chunk still without its vector, with what its vector is made from."""

    id: uuid.UUID
    content_hash: str
    section: str | None
    text: str


@dataclass(frozen=True)
class NewDocument:
    user_id: uuid.UUID
    thread_id: uuid.UUID | None
    name: str
    type: str
    size_bytes: int
    content_hash: str
    pages: int | None


class DocumentStore:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool
        self._dimension_checked: int | None = None

    async def ensure_dimension(self, dim: int) -> None:
        """Make the vector column hold ``dim``-d vectors while it is empty; refuse to mix sizes after."""
        if self._dimension_checked == dim:
            return
        async with self.pool.connection() as conn, conn.transaction():
            stored = await dimension(conn, CHUNK_VECTORS)
            if stored is not None and stored != dim:
                used = await (
                    await conn.execute("SELECT 1 FROM document_chunks WHERE embedding IS NOT NULL LIMIT 1")
                ).fetchone()
                if used is not None:
                    raise ConfigError(
                        f"stored document chunks have {stored}-d vectors, the embedder makes {dim}-d ones",
                        hint="run `assistant memory reembed` to re-embed them with the configured model",
                    )
                await resize(conn, CHUNK_VECTORS, dim)
                await create_index(conn, CHUNK_VECTORS)
        self._dimension_checked = dim

    # -- reading ---------------------------------------------------------------------------
    async def find(self, user_id: uuid.UUID, thread_id: uuid.UUID | None, name: str) -> DocumentInfo | None:
        rows = await self._documents(
            "user_id = %s AND thread_id IS NOT DISTINCT FROM %s AND name = %s", (user_id, thread_id, name)
        )
        return rows[0] if rows else None

    async def get(self, user_id: uuid.UUID, document_id: uuid.UUID) -> DocumentInfo | None:
        rows = await self._documents("user_id = %s AND id = %s", (user_id, document_id))
        return rows[0] if rows else None

    async def for_user(self, user_id: uuid.UUID, thread_id: uuid.UUID | None = None) -> list[DocumentInfo]:
        """The user's documents, newest first; with ``thread_id``, those that thread can use."""
        if thread_id is None:
            return await self._documents("user_id = %s", (user_id,))
        return await self._documents("user_id = %s AND (thread_id IS NULL OR thread_id = %s)", (user_id, thread_id))

    async def _documents(self, where: str, params: Sequence[Any]) -> list[DocumentInfo]:
        async with self.pool.connection() as conn, conn.cursor(row_factory=class_row(DocumentInfo)) as cur:
            await cur.execute(
                f"SELECT {DOCUMENT_COLUMNS}, {UNEMBEDDED_COLUMN}, {INDEX_JOB_COLUMN} FROM documents WHERE {where}"
                " ORDER BY created_at DESC, id",
                params,
            )
            return await cur.fetchall()

    async def known_vectors(self, user_id: uuid.UUID, hashes: Sequence[str]) -> dict[str, Vectors]:
        """Vectors already stored for these chunk hashes (of any of the user's documents)."""
        if not hashes:
            return {}
        async with self.pool.connection() as conn:
            rows = await (
                await conn.execute(
                    """SELECT DISTINCT ON (content_hash) content_hash, embedding FROM document_chunks
                       WHERE user_id = %s AND content_hash = ANY(%s) AND embedding IS NOT NULL""",
                    (user_id, list(hashes)),
                )
            ).fetchall()
        return {row[0]: _array(row[1]) for row in rows}

    async def chunks(self, user_id: uuid.UUID, chunk_ids: Sequence[uuid.UUID]) -> list[ChunkRecord]:
        async with self.pool.connection() as conn, conn.cursor(row_factory=class_row(ChunkRecord)) as cur:
            await cur.execute(
                f"""SELECT {CHUNK_COLUMNS} FROM document_chunks c JOIN documents d ON d.id = c.document_id
                    WHERE c.user_id = %s AND c.id = ANY(%s)""",
                (user_id, list(chunk_ids)),
            )
            found = {row.id: row for row in await cur.fetchall()}
        return [found[i] for i in chunk_ids if i in found]

    async def document_chunks(self, user_id: uuid.UUID, document_id: uuid.UUID) -> list[ChunkRecord]:
        async with self.pool.connection() as conn, conn.cursor(row_factory=class_row(ChunkRecord)) as cur:
            await cur.execute(
                f"""SELECT {CHUNK_COLUMNS} FROM document_chunks c JOIN documents d ON d.id = c.document_id
                    WHERE c.user_id = %s AND c.document_id = %s ORDER BY c.ordinal""",
                (user_id, document_id),
            )
            return await cur.fetchall()

    # -- writing ---------------------------------------------------------------------------
    async def save(
        self,
        document: NewDocument,
        chunks: Sequence[Chunk],
        vectors: Sequence[Any],
        jobs: Sequence[JobRequest] = (),
    ) -> DocumentInfo:
        """Insert or replace the document of this name in its scope, with all its chunks, atomically.

        A vector may be None (the chunk waits for one); ``jobs`` (those filling the vectors in) are queued in
        the same transaction, with the document's and user's ids, so a stored document always has its jobs.
        """
        async with self.pool.connection() as conn, conn.transaction():
            async with conn.cursor(row_factory=class_row(DocumentInfo)) as cur:
                await cur.execute(
                    f"""INSERT INTO documents (user_id, thread_id, name, type, size_bytes, content_hash, pages,
                            chunk_count)
                        VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
                        ON CONFLICT ON CONSTRAINT documents_scope_name_key DO UPDATE SET
                            type = EXCLUDED.type, size_bytes = EXCLUDED.size_bytes,
                            content_hash = EXCLUDED.content_hash, pages = EXCLUDED.pages,
                            chunk_count = EXCLUDED.chunk_count, updated_at = now()
                        RETURNING {DOCUMENT_COLUMNS}""",
                    (
                        document.user_id,
                        document.thread_id,
                        document.name,
                        document.type,
                        document.size_bytes,
                        document.content_hash,
                        document.pages,
                        len(chunks),
                    ),
                )
                saved = await cur.fetchone()
            assert saved is not None
            await conn.execute("DELETE FROM document_chunks WHERE document_id = %s", (saved.id,))
            async with conn.cursor() as cur:
                await cur.executemany(
                    """INSERT INTO document_chunks (document_id, user_id, thread_id, ordinal, text, page, section,
                           token_count, content_hash, embedding)
                       VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                    [
                        (
                            saved.id,
                            document.user_id,
                            document.thread_id,
                            chunk.ordinal,
                            chunk.text.replace("\x00", ""),
                            chunk.page,
                            chunk.section.replace("\x00", "") if chunk.section else None,
                            chunk.tokens,
                            chunk.content_hash,
                            None if vector is None else np.asarray(vector, dtype=np.float32),
                        )
                        for chunk, vector in zip(chunks, vectors, strict=True)
                    ],
                )
            await defer(conn, jobs, {"document_id": str(saved.id), "user_id": str(document.user_id)})
        return saved.model_copy(update={"unembedded": sum(1 for v in vectors if v is None)})

    async def pending(self, document_id: uuid.UUID, *, after: uuid.UUID, limit: int) -> list[PendingChunk]:
        """The document's chunks without a vector, by id after ``after`` (a walk that survives restarts)."""
        async with self.pool.connection() as conn, conn.cursor(row_factory=class_row(PendingChunk)) as cur:
            await cur.execute(
                """SELECT id, content_hash, section, text FROM document_chunks
                   WHERE document_id = %s AND embedding IS NULL AND id > %s ORDER BY id LIMIT %s""",
                (document_id, after, limit),
            )
            return await cur.fetchall()

    async def fill_vectors(self, values: Sequence[tuple[uuid.UUID, Any]]) -> int:
        """Give chunks their vectors; a chunk that has one already (or is gone) is left as it is."""
        async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            await cur.executemany(
                "UPDATE document_chunks SET embedding = %s WHERE id = %s AND embedding IS NULL",
                [(np.asarray(vector, dtype=np.float32), chunk_id) for chunk_id, vector in values],
            )
            return max(cur.rowcount, 0)

    async def delete(self, user_id: uuid.UUID, document_id: uuid.UUID) -> DocumentInfo | None:
        """The document, its chunks and its jobs that are not running (a running one finds nothing left)."""
        async with self.pool.connection() as conn, conn.transaction():
            async with conn.cursor(row_factory=class_row(DocumentInfo)) as cur:
                await cur.execute(
                    f"DELETE FROM documents WHERE user_id = %s AND id = %s RETURNING {DOCUMENT_COLUMNS}",
                    (user_id, document_id),
                )
                removed = await cur.fetchone()
            await _drop_jobs(conn, user_id, document_id)
        return removed

    async def delete_all(self, user_id: uuid.UUID, conn: AsyncConnection | None = None) -> int:
        """Every document of the user (chunks and jobs go with them); inside ``conn``'s transaction if given."""
        if conn is not None:
            await _drop_jobs(conn, user_id, None)
            return (await conn.execute("DELETE FROM documents WHERE user_id = %s", (user_id,))).rowcount
        async with self.pool.connection() as own, own.transaction():
            await _drop_jobs(own, user_id, None)
            return (await own.execute("DELETE FROM documents WHERE user_id = %s", (user_id,))).rowcount

    async def counts(self, user_id: uuid.UUID) -> tuple[int, int]:
        """(documents, chunks) of the user."""
        async with self.pool.connection() as conn:
            row = await (
                await conn.execute(
                    """SELECT (SELECT count(*) FROM documents WHERE user_id = %s),
                              (SELECT count(*) FROM document_chunks WHERE user_id = %s)""",
                    (user_id, user_id),
                )
            ).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)


async def _drop_jobs(conn: AsyncConnection, user_id: uuid.UUID, document_id: uuid.UUID | None) -> None:
    """Delete the queued jobs about this document (every document of the user with None), unless running."""
    await conn.execute(
        """DELETE FROM procrastinate_jobs
           WHERE status <> 'doing' AND args->>'user_id' = %s AND args ? 'document_id'
             AND (%s::text IS NULL OR args->>'document_id' = %s)""",
        (str(user_id), document_id and str(document_id), document_id and str(document_id)),
    )


def _array(value: Any) -> Vectors:
    """A stored vector (pgvector's ``Vector`` or an array) as a float32 array."""
    return np.asarray(value.to_numpy() if hasattr(value, "to_numpy") else value, dtype=np.float32)
