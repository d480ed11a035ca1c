"""This conversation: its newest turns, placed as chat messages, and the rolling summary of what came before."""

from __future__ import annotations

from assistant.context.packing import MESSAGE_TOKENS, Candidate, TierPlan
from assistant.context.quoting import FENCES
from assistant.context.tiers.base import Offer, Tier, TierRequest, TierStores, listed_section
from memory.conversations import Thread
from memory.recall import RecalledItem
from memory.short_term.window import Turn


def _turn_item(turn: Turn, thread: Thread) -> RecalledItem:
    return RecalledItem(
        id=str(turn.message_id),
        kind="turn",
        text=turn.for_model,
        reason="recent turn in this thread",
        thread_id=thread.id,
        message_ids=(turn.message_id,),
        created_at=turn.created_at,
        role=turn.role,
    )


class ShortTermTier(Tier):
    name = "short_term"
    title = "this conversation"
    priority = 1
    default_share = 0.45
    phase = 0  # what it places, the others leave out
    recalled = False  # the conversation itself, not something recalled for the reply
    sections = ("summary",)  # the summary has a heading; the turns are chat messages

    @classmethod
    def from_stores(cls, stores: TierStores) -> Tier:
        return cls(stores.short_term)

    async def candidates(self, request: TierRequest) -> Offer:
        thread, message = request.thread, request.message
        if thread is None or message is None:
            return Offer(self)
        state = await self.source.load(thread)
        window_turns = [t for t in state.turns if t.message_id != message.id and t.seq < message.seq]
        summary_items = []
        if state.summary:
            summary_items = [
                RecalledItem(
                    id=f"summary:{thread.id}",
                    kind="summary",
                    text=state.summary.content,
                    reason=f"rolling summary of messages up to #{state.summary.covers_through_seq}",
                    thread_id=thread.id,
                )
            ]
        counter = request.counter
        turns = TierPlan(
            "turns",
            [
                Candidate(_turn_item(t, thread), counter.text(t.content) + MESSAGE_TOKENS)
                for t in reversed(window_turns)
            ],
            contiguous=True,
        )
        return Offer(
            self,
            [listed_section(self, summary_items, request, tag=FENCES["summary"], section="summary")],
            conversation=turns,
            in_context=frozenset({message.id, *(t.message_id for t in window_turns)}),
        )

    @property
    def report_title(self) -> str:
        return "This conversation (recent turns and summary)"

    def allocate(self, offer: Offer, cap: int) -> None:
        summary, turns = offer.sections[0].plan, offer.conversation
        if turns is None:
            return
        summary_cost = sum(c.cost for c in summary.candidates) + summary.heading_cost
        if summary.candidates and summary_cost <= cap // 2:
            summary.fill(cap)  # a small summary keeps its place beside the newest turns
        turns.fill(cap - summary.chosen_cost)
        summary.fill(cap - turns.chosen_cost)
