"""Pinned "core" memories: what the user asked the assistant to remember, always wanted in context."""

from __future__ import annotations

from assistant.context.packing import Candidate, TierPlan
from assistant.context.quoting import FENCES, neutralise
from assistant.context.tiers.base import (
    Offer,
    Section,
    Tier,
    TierRequest,
    TierStores,
    block_heading_cost,
    listed_section,
)
from memory.recall import RecalledItem

TAG = FENCES["core"]


def _bullet(number: int, item: RecalledItem) -> str:
    # A block lists the memories in their own words (``line``), without the dates a turn shows.
    return f"- {neutralise(item.line or item.text)}"


class CoreTier(Tier):
    name = "core"
    title = "pinned memories"
    priority = 0
    default_share = 0.10
    standalone = True

    @classmethod
    def from_stores(cls, stores: TierStores) -> Tier:
        return cls(stores.core)

    @property
    def report_name(self) -> str:
        return "system"  # reported with the system prompt, which the manager places before it

    @property
    def report_title(self) -> str:
        return "System prompt and pinned memories"

    async def candidates(self, request: TierRequest) -> Offer:
        pinned: list[RecalledItem] = await self.source.pinned(request.user_id)
        if request.for_turn:
            return Offer(self, [listed_section(self, pinned, request, tag=TAG)])
        counter, heading = request.counter, request.heading("core")
        # In a block, the pinned memories are kept in order until one does not fit.
        candidates = [Candidate(item, counter.text(_bullet(0, item)) + 1) for item in pinned]
        cost = block_heading_cost(heading, TAG, counter)
        plan = TierPlan("core", candidates, heading_cost=cost, contiguous=True)
        return Offer(self, [Section(plan, heading, TAG, render=_bullet)])
