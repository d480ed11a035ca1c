"""The documents tier of the context manager: the best chunks as recalled items that name their source."""

from __future__ import annotations

import uuid

from memory.documents.records import DocumentHit
from memory.documents.service import DocumentService
from memory.recall import RecalledItem
from memory.relevance import BELOW, RelevanceFloor
from memory.retrieval.texts import chunk_words

DEPTH = 50  # candidates from each of the two searches


def _reason(hit: DocumentHit) -> str:
    found = []
    if hit.vector_rank is not None:
        found.append(f"meaning #{hit.vector_rank}")
    if hit.text_rank is not None:
        found.append(f"words #{hit.text_rank}")
    return f"excerpt of {hit.chunk.citation} (matched by {', '.join(found)})"


def _item(hit: DocumentHit, *, below_floor: bool = False) -> RecalledItem:
    reason = _reason(hit)
    if below_floor:
        similarity = "not embedded" if hit.similarity is None else f"similarity {hit.similarity:.2f}"
        reason = f"left out: below the relevance floor ({similarity}); {reason}"
    return RecalledItem(
        id=str(hit.chunk.id),
        kind="document",
        text=hit.chunk.text,
        score=hit.score,
        reason=reason,
        source=hit.chunk.citation,
        below_floor=below_floor,
    )


class DocumentTier:
    def __init__(self, documents: DocumentService, *, floor: RelevanceFloor) -> None:
        """``floor``: the documents floor calibrated for the embedder's vectors (its profile)."""
        self.documents = documents
        self.floor = floor

    async def search(self, user_id: uuid.UUID, thread_id: uuid.UUID, query: str, *, limit: int) -> list[RecalledItem]:
        """The best excerpts that clear the relevance floor, then those below it (flagged, for the report)."""
        hits = await self.documents.searcher.search(
            user_id, query, thread_id=thread_id, limit=2 * max(DEPTH, limit), depth=max(DEPTH, limit)
        )
        floor = self.floor.for_query(query)
        levels = floor.select(
            [(h.similarity, chunk_words(h.chunk.text, h.chunk.section), h.chunk.document_id) for h in hits]
        )
        relevant = [h for h, level in zip(hits, levels, strict=True) if level != BELOW]
        below = [h for h, level in zip(hits, levels, strict=True) if level == BELOW]
        return [_item(h) for h in relevant[:limit]] + [_item(h, below_floor=True) for h in below]
