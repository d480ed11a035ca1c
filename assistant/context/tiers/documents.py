"""The user's documents: excerpts relevant to the message, numbered first so answers can cite them."""

from __future__ import annotations

from assistant.context.tiers.base import Offer, Tier, TierRequest, TierStores, above_floor, listed_section
from memory.recall import RecalledItem

CANDIDATES = 20


class DocumentsTier(Tier):
    name = "documents"
    title = "documents"
    priority = 3
    default_share = 0.15

    @classmethod
    def from_stores(cls, stores: TierStores) -> Tier:
        return cls(stores.documents)

    async def candidates(self, request: TierRequest) -> Offer:
        found: list[RecalledItem] = []
        if request.thread is not None:
            found = await self.source.search(request.user_id, request.thread.id, request.query, limit=CANDIDATES)
        excerpts, below = above_floor(found)
        # Excerpts carry their own delimiters (quoting.render_document), so the section has none.
        return Offer(self, [listed_section(self, excerpts, request, tag=None, cited=True)], below_floor=below)
