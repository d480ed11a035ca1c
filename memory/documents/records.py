"""Rows of the document tables, as the service hands them out."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel

DOCUMENT_COLUMNS = (
    "id, user_id, thread_id, name, type, size_bytes, content_hash, pages, chunk_count, created_at, updated_at"
)

# How many of a document's chunks still wait for their vector (the embedding job fills them in).
UNEMBEDDED_COLUMN = (
    "(SELECT count(*) FROM document_chunks c WHERE c.document_id = documents.id AND c.embedding IS NULL) AS unembedded"
)
# The state of the newest job about a document that still waits for vectors: "failed" once its retries ran out.
# Only looked up for such a document, so listing ready documents never reads the queue.
INDEX_JOB_COLUMN = (
    "CASE WHEN EXISTS (SELECT 1 FROM document_chunks c WHERE c.document_id = documents.id AND c.embedding IS NULL)"
    " THEN (SELECT j.status::text FROM procrastinate_jobs j WHERE j.args->>'document_id' = documents.id::text"
    " ORDER BY j.id DESC LIMIT 1) END AS index_job"
)


class DocumentInfo(BaseModel):
    """One stored document (``embedded``/``unchanged`` describe the ``add`` that returned it).

    ``unembedded``: chunks still waiting for their vector; until they have it the document is "indexing"
    (found by its words only), then "ready"; "failed" if its embedding job ran out of retries
    (`assistant jobs retry` runs it again).
    """

    id: uuid.UUID
    user_id: uuid.UUID
    thread_id: uuid.UUID | None
    name: str
    type: str
    size_bytes: int
    content_hash: str
    pages: int | None
    chunk_count: int
    created_at: datetime
    updated_at: datetime
    unembedded: int = 0
    index_job: str | None = None
    embedded: int = 0
    unchanged: bool = False

    @property
    def status(self) -> str:
        if not self.unembedded:
            return "ready"
        return "failed" if self.index_job == "failed" else "indexing"


CHUNK_COLUMNS = "c.id, c.document_id, d.name AS document_name, c.ordinal, c.text, c.page, c.section, c.token_count"


class ChunkRecord(BaseModel):
    id: uuid.UUID
    document_id: uuid.UUID
    document_name: str
    ordinal: int
    text: str
    page: int | None
    section: str | None
    token_count: int

    @property
    def citation(self) -> str:
        """Where the text comes from, for a reader: ``report.pdf, page 3, "Results"``."""
        parts = [self.document_name]
        if self.page is not None:
            parts.append(f"page {self.page}")
        if self.section:
            parts.append(f"“{self.section}”")
        return ", ".join(parts)


class DocumentHit(BaseModel):
    chunk: ChunkRecord
    score: float
    vector_rank: int | None
    text_rank: int | None
    similarity: float | None
