"""Long-term memory: memories and past turns recalled for the query, turns grouped by conversation and date."""

from __future__ import annotations

import uuid

from assistant.context.packing import LABEL_TOKENS, Candidate, GroupedPlan
from assistant.context.quoting import FENCES
from assistant.context.tiers.base import (
    Offer,
    Section,
    Tier,
    TierRequest,
    TierStores,
    above_floor,
    block_heading_cost,
    heading_cost,
)
from memory.recall import RecalledItem

CANDIDATES = 320
TAG = FENCES["long_term"]


class LongTermMemoryTier(Tier):
    name = "long_term"
    title = "long-term memory"
    priority = 2
    default_share = 0.30
    phase = 1  # its recall embeds the query; the other reads then run side by side and find it cached
    standalone = True

    @classmethod
    def from_stores(cls, stores: TierStores) -> Tier:
        return cls(stores.long_term)

    async def warm(self, user_id: uuid.UUID, query: str) -> None:
        await self.source.warm(user_id, query)

    async def candidates(self, request: TierRequest) -> Offer:
        recalled: list[RecalledItem] = []
        below: list[RecalledItem] = []
        if request.long_term_off is None and (request.for_turn or request.query.strip()):
            found: list[RecalledItem] = await self.source.recall(
                request.user_id, request.query, now=request.now, exclude=request.in_context, limit=CANDIDATES
            )
            recalled, below = above_floor(r for r in found if not request.in_context.intersection(r.message_ids))
        counter, heading = request.counter, request.heading("long_term")
        # Turns that share a group are priced line by line while packing, and only as far as the walk goes.
        candidates = [
            Candidate(item, 0 if item.group_key and item.line else counter.text(self.render(99, item)) + LABEL_TOKENS)
            for item in recalled
        ]
        cost = 0
        if heading and request.for_turn:
            cost = heading_cost(heading, TAG, counter) if candidates else 0
        elif heading:
            cost = block_heading_cost(heading, TAG, counter)
        plan = GroupedPlan("long_term", candidates, counter.text, lambda item: self.render(99, item), heading_cost=cost)
        return Offer(self, [Section(plan, heading, TAG, render=self.render)], below_floor=below)
