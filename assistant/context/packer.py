"""The one budget packer: it shares a token budget between the tiers' offers, for a chat turn and for a block.

A turn: each tier fills up to its share (``ContextTier.allocate``), then tiers in priority
order take what the others left; if the rendered messages still do not fit, items are
dropped lowest priority first (``drop_one``). A block (MCP's ``get_context``, the LoCoMo
benchmark): tiers fill one after another from what is left, each item counted as rendered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from assistant.context.budget import TierShares
from assistant.context.quoting import fence
from assistant.context.report import ReportItem
from assistant.context.tiers.base import Offer, Section
from assistant.providers.tokens import TokenCounter


def allocate(offers: Sequence[Offer], shares: TierShares, room: int) -> None:
    """Fill each tier up to its share of ``room``, then let tiers in priority order take what is left."""
    room = max(0, room)
    for offer in offers:
        offer.tier.allocate(offer, int(room * shares.of(offer.tier.name)))
    ordered = [plan for offer in offers for plan in offer.plans]
    for plan in ordered:
        spare = room - sum(p.chosen_cost for p in ordered)
        plan.fill(plan.chosen_cost + spare)


def drop_one(offers: Sequence[Offer]) -> bool:
    """Unchoose one item of the lowest priority; False when nothing is chosen."""
    return any(plan.drop_last() for offer in reversed(offers) for plan in offer.plans)


@dataclass(frozen=True)
class PackedSection:
    section: Section
    items: list[ReportItem]  # each with its text as placed and its own token count

    @property
    def text(self) -> str:
        body = "\n".join(item.text for item in self.items)
        tag = self.section.fence
        return self.section.heading + "\n" + (fence(tag, body) if tag else body)


def pack_block(offers: Sequence[Offer], budget: int, counter: TokenCounter, *, used: int = 0) -> list[PackedSection]:
    """Each offer's sections in turn, filled from what is left of ``budget``; items are numbered from 1 within
    their section and the last packed are dropped until the counts of the rendered items fit."""
    packed: list[PackedSection] = []
    for offer in offers:
        for section in offer.sections:
            plan, cap = section.plan, budget - used
            plan.fill(cap)
            while True:
                chosen = plan.chosen
                texts = [section.render(number, c.item) for number, c in enumerate(chosen, start=1)]
                counts = [counter.text(text) for text in texts]
                if sum(counts) + (plan.heading_cost if chosen else 0) <= cap or not plan.drop_last():
                    break
            used += plan.chosen_cost
            if not chosen:
                continue
            items = [
                ReportItem(
                    id=c.item.id,
                    kind=c.item.kind,
                    text=text,
                    tokens=tokens,
                    score=c.item.score,
                    reason=c.item.reason,
                    thread_id=c.item.thread_id,
                    message_ids=list(c.item.message_ids),
                )
                for c, text, tokens in zip(chosen, texts, counts, strict=True)
            ]
            packed.append(PackedSection(section, items))
    return packed
