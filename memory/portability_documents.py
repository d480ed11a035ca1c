"""Documents in the export format: each document with its chunks (text, page, section), not its vectors.

Works on the documents tables (migration 0008) when they exist; without them a
file's document lines are counted as skipped and nothing is written.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import numpy as np
from psycopg import AsyncConnection

from memory.embeddings import Embedder
from memory.portability_lines import ChunkLine, DocumentLine
from memory.retrieval.texts import chunk_text

if TYPE_CHECKING:
    from memory.portability import _IdMap

_DOC_COLUMNS = "id, thread_id, name, type AS format, size_bytes, content_hash, pages, created_at, updated_at"


async def _has_documents(conn: AsyncConnection) -> bool:
    row = await (await conn.execute("SELECT to_regclass('document_chunks') IS NOT NULL")).fetchone()
    return bool(row and row[0])


async def export_documents(conn: AsyncConnection, user_id: uuid.UUID) -> list[DocumentLine]:
    if not await _has_documents(conn):
        return []
    cur = await conn.execute(
        f"SELECT {_DOC_COLUMNS} FROM documents WHERE user_id = %s ORDER BY created_at, id", (user_id,)
    )
    names = [d.name for d in cur.description or ()]
    documents = [dict(zip(names, row, strict=True)) for row in await cur.fetchall()]
    lines = []
    for doc in documents:
        chunks = await (
            await conn.execute(
                """SELECT ordinal, text, page, section, token_count, content_hash FROM document_chunks
                   WHERE document_id = %s ORDER BY ordinal""",
                (doc["id"],),
            )
        ).fetchall()
        doc["chunks"] = [
            ChunkLine(ordinal=c[0], text=c[1], page=c[2], section=c[3], token_count=c[4], content_hash=c[5])
            for c in chunks
        ]
        lines.append(DocumentLine.model_validate(doc))
    return lines


async def import_documents(
    conn: AsyncConnection, user_id: uuid.UUID, documents: list[DocumentLine], ids: _IdMap, embedder: Embedder
) -> int:
    """Add the documents not stored yet, embedding their chunks; the number added."""
    if not documents or not await _has_documents(conn):
        return 0
    added = 0
    for doc in documents:
        doc_id = ids.map(doc.id)
        if doc_id in ids.own["documents"]:
            continue
        thread_id = ids.ref(doc.thread_id)
        cur = await conn.execute(
            """INSERT INTO documents (id, user_id, thread_id, name, type, size_bytes, content_hash, pages, chunk_count,
                                      created_at, updated_at)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING""",
            (doc_id, user_id, thread_id, doc.name, doc.format, doc.size_bytes, doc.content_hash, doc.pages,
             len(doc.chunks), doc.created_at, doc.updated_at or doc.created_at),
        )  # fmt: skip
        if not cur.rowcount:
            continue
        added += 1
        vectors: list[Any] = []
        for start in range(0, len(doc.chunks), 32):
            batch = doc.chunks[start : start + 32]
            vectors.extend(
                np.asarray(v, dtype=np.float32)
                for v in await embedder.passages([chunk_text(c.section, c.text) for c in batch])
            )
        async with conn.cursor() as cursor:
            await cursor.executemany(
                """INSERT INTO document_chunks (document_id, user_id, thread_id, ordinal, text, page, section,
                                                token_count, content_hash, embedding)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                [
                    (doc_id, user_id, thread_id, c.ordinal, c.text, c.page, c.section, c.token_count, c.content_hash, v)
                    for c, v in zip(doc.chunks, vectors, strict=True)
                ],
            )
    return added
