"""The context manager: for each turn, exactly what the model sees, within its window, and why.

Tiers in priority order: the system prompt with pinned core memories, the new
message, short-term memory (newest turns, then the rolling summary), long-term
memories, document excerpts. Each tier has a share of the budget; what a tier
leaves unused flows to the others. The final rendered messages are counted with
the model's tokenizer and trimmed, lowest priority first, until they fit.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from assistant.context.budget import Budget, TierShares
from assistant.context.packing import LABEL_TOKENS, MESSAGE_TOKENS, Candidate, GroupedPlan, TierPlan
from assistant.context.quoting import FENCES, fence, neutralise, render_document
from assistant.context.report import ContextReport, ReportItem, TierReport, Truncation
from assistant.context.sources import CoreMemorySource, DocumentSource, LongTermSource
from assistant.context.templates import ContextTemplates
from assistant.providers.base import ChatMessage, Role
from assistant.providers.tokens import TokenCounter
from memory.conversations import Message, Thread
from memory.recall import RecalledItem
from memory.short_term.window import ShortTermMemory, Turn

LONG_TERM_CANDIDATES = 320
DOCUMENT_CANDIDATES = 20
REPORTED_DROPPED = 20  # per tier, best first: enough to explain a choice without pricing hundreds of items


@dataclass(frozen=True)
class BuiltContext:
    messages: list[ChatMessage]
    report: ContextReport


@dataclass
class _Plans:
    core: TierPlan
    summary: TierPlan
    turns: TierPlan
    long_term: TierPlan
    documents: TierPlan

    def by_priority_lowest_first(self) -> list[TierPlan]:
        return [self.documents, self.long_term, self.turns, self.summary, self.core]


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


def _above_floor(items: Iterable[RecalledItem]) -> tuple[list[RecalledItem], list[RecalledItem]]:
    """A tier's candidates split into those that may be used and those below the relevance floor."""
    above: list[RecalledItem] = []
    below: list[RecalledItem] = []
    for item in items:
        (below if item.below_floor else above).append(item)
    return above, below


def _would_fit(below: Sequence[RecalledItem], room: int, counter: TokenCounter) -> int:
    """How many items below the floor (best first) the tier had room for: what the floor kept out."""
    fitted = 0
    for item in below:
        cost = counter.text(item.line or item.text) + LABEL_TOKENS
        if cost > room:
            break
        room -= cost
        fitted += 1
    return fitted


class ContextManager:
    def __init__(
        self,
        short_term: ShortTermMemory,
        core: CoreMemorySource,
        long_term: LongTermSource,
        documents: DocumentSource,
        *,
        system_prompt: str,
        templates: ContextTemplates,
        shares: TierShares,
        answer_tokens: int,
        margin_tokens: int = 16,
    ) -> None:
        self.short_term = short_term
        self.core = core
        self.long_term = long_term
        self.documents = documents
        self.system_prompt = system_prompt
        self.templates = templates
        self.shares = shares.normalised()
        self.answer_tokens = answer_tokens
        self.margin_tokens = margin_tokens
        self._warming: set[asyncio.Future[None]] = set()

    def budget(self, window: int) -> Budget:
        return Budget.for_window(window, answer_tokens=self.answer_tokens, margin_tokens=self.margin_tokens)

    def warm(self, thread: Thread, text: str) -> None:
        """Start embedding a message about to be stored and built for, so its storing overlaps the embedding."""
        warming = asyncio.ensure_future(self.long_term.warm(thread.user_id, text))
        self._warming.add(warming)  # the event loop keeps only a weak reference to a task
        warming.add_done_callback(self._warmed)

    def _warmed(self, done: asyncio.Future[None]) -> None:
        self._warming.discard(done)
        if not done.cancelled():
            done.exception()  # any error shows again, where it matters, when the build embeds the same text

    async def build(
        self,
        thread: Thread,
        message: Message,
        *,
        model: str,
        window: int,
        now: datetime | None = None,
        long_term_off: str | None = None,
    ) -> BuiltContext:
        """The messages for the model and the report of how they were chosen; with ``long_term_off`` (why, in
        words) nothing is recalled from long-term memory, while pinned memories are still placed."""
        timings: dict[str, float] = {}
        clock = time.perf_counter()
        counter = TokenCounter(model)
        budget = self.budget(window)

        state = await self.short_term.load(thread)
        timings["load_short_term"] = (time.perf_counter() - clock) * 1000

        clock = time.perf_counter()
        window_turns = [t for t in state.turns if t.message_id != message.id and t.seq < message.seq]
        in_context = {message.id, *(t.message_id for t in window_turns)}
        # Recall embeds the message; only then do the other reads run, side by side (run beside the embedding,
        # they slow it down more than they save) and the document search finds the embedding cached.
        recalled: list[RecalledItem] = []
        recalled_below: list[RecalledItem] = []
        if long_term_off is None:
            candidates = await self.long_term.recall(
                thread.user_id,
                message.content,
                now=now or datetime.now(UTC),
                exclude=in_context,
                limit=LONG_TERM_CANDIDATES,
            )
            recalled, recalled_below = _above_floor(r for r in candidates if not in_context.intersection(r.message_ids))
        pinned, found = await asyncio.gather(
            self.core.pinned(thread.user_id),
            self.documents.search(thread.user_id, thread.id, message.content, limit=DOCUMENT_CANDIDATES),
        )
        excerpts, excerpts_below = _above_floor(found)
        timings["retrieve"] = (time.perf_counter() - clock) * 1000

        clock = time.perf_counter()
        new_text, truncation = self._fit_message(message.content, counter, budget)
        base = counter.messages([ChatMessage("system", self.system_prompt), ChatMessage("user", new_text)])
        if pinned or state.summary or recalled:
            base += counter.text(self.templates.data_note) + 2  # said once before the fenced sections
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
        plans = _Plans(
            core=self._plan("core", pinned, counter, self.templates.core_heading),
            summary=self._plan("summary", summary_items, counter, self.templates.summary_heading),
            turns=TierPlan(
                "turns",
                [
                    Candidate(_turn_item(t, thread), counter.text(t.content) + MESSAGE_TOKENS)
                    for t in reversed(window_turns)
                ],
                contiguous=True,
            ),
            long_term=self._grouped_plan(recalled, counter, self.templates.long_term_heading),
            documents=self._plan("documents", excerpts, counter, self.templates.documents_heading),
        )
        self._allocate(plans, budget.total - base)
        messages, rendered = self._render(plans, new_text)
        used = counter.messages(messages)
        while used > budget.total and self._drop_one(plans):
            messages, rendered = self._render(plans, new_text)
            used = counter.messages(messages)
        timings["assemble"] = (time.perf_counter() - clock) * 1000

        report = ContextReport(
            model=model,
            window=budget.window,
            reserve=budget.reserve,
            margin=budget.margin,
            budget=budget.total,
            used=used,
            tiers=self._tier_reports(plans, rendered, counter, new_text, (recalled_below, excerpts_below)),
            truncated=truncation,
            long_term_off=long_term_off,
            timings_ms=timings,
            created_at=datetime.now(UTC),
        )
        return BuiltContext(messages, report)

    async def long_term_context(
        self, user_id: uuid.UUID, query: str, *, model: str, budget: int, now: datetime
    ) -> list[ReportItem]:
        """The long-term tier alone under ``budget`` tokens, each item counted on its own (for benchmarks)."""
        counter = TokenCounter(model)
        found = await self.long_term.recall(user_id, query, now=now, exclude=(), limit=LONG_TERM_CANDIDATES)
        plan = self._grouped_plan(_above_floor(found)[0], counter, "")
        plan.fill(budget)
        while True:
            texts = [self._render_item(number, c.item) for number, c in enumerate(plan.chosen, start=1)]
            counts = [counter.text(text) for text in texts]
            if sum(counts) <= budget or not plan.drop_last():
                break
        return [
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
            for c, text, tokens in zip(plan.chosen, texts, counts, strict=True)
        ]

    # -- choosing ------------------------------------------------------------------------
    def _plan(self, name: str, items: list[RecalledItem], counter: TokenCounter, heading: str) -> TierPlan:
        # Priced as rendered with a two-digit label; the final count catches any difference.
        candidates = [Candidate(item, counter.text(self._render_item(99, item)) + LABEL_TOKENS) for item in items]
        heading_cost = self._heading_cost(name, heading, counter) if candidates else 0
        return TierPlan(name, candidates, heading_cost=heading_cost)

    @staticmethod
    def _heading_cost(name: str, heading: str, counter: TokenCounter) -> int:
        """A section's heading and, for stored text, its delimiters."""
        return counter.text(heading) + 2 + (counter.text(fence(FENCES[name], "")) if name in FENCES else 0)

    def _grouped_plan(self, items: list[RecalledItem], counter: TokenCounter, heading: str) -> GroupedPlan:
        # Turns that share a group are priced line by line while packing, and only as far as the walk goes.
        candidates = [
            Candidate(
                item, 0 if item.group_key and item.line else counter.text(self._render_item(99, item)) + LABEL_TOKENS
            )
            for item in items
        ]
        heading_cost = self._heading_cost("long_term", heading, counter) if candidates and heading else 0
        return GroupedPlan(
            "long_term", candidates, counter.text, lambda item: self._render_item(99, item), heading_cost=heading_cost
        )

    def _allocate(self, plans: _Plans, room: int) -> None:
        """Fill each tier up to its share, then let tiers in priority order take what is left."""
        room = max(0, room)
        shares = self.shares
        plans.core.fill(int(room * shares.core))
        short_cap = int(room * shares.short_term)
        summary_cost = sum(c.cost for c in plans.summary.candidates) + plans.summary.heading_cost
        if plans.summary.candidates and summary_cost <= short_cap // 2:
            plans.summary.fill(short_cap)  # a small summary keeps its place beside the newest turns
        plans.turns.fill(short_cap - plans.summary.chosen_cost)
        plans.summary.fill(short_cap - plans.turns.chosen_cost)
        plans.long_term.fill(int(room * shares.long_term))
        plans.documents.fill(int(room * shares.documents))
        ordered = [plans.core, plans.turns, plans.summary, plans.long_term, plans.documents]
        for plan in ordered:
            spare = room - sum(p.chosen_cost for p in ordered)
            plan.fill(plan.chosen_cost + spare)

    def _drop_one(self, plans: _Plans) -> bool:
        return any(plan.drop_last() for plan in plans.by_priority_lowest_first())

    def _fit_message(self, text: str, counter: TokenCounter, budget: Budget) -> tuple[str, Truncation | None]:
        """The new message, cut with a visible note when it alone would not fit the budget."""
        fixed = counter.messages([ChatMessage("system", self.system_prompt), ChatMessage("user", "")])
        original = counter.text(text)
        if fixed + original <= budget.total:
            return text, None
        note = self.templates.truncated_note.format(sent="{sent}", original=original)
        allowed = max(0, budget.total - fixed - counter.text(note.format(sent=original)) - 4)
        while True:
            kept = counter.truncate(text, allowed)
            candidate = f"{kept}\n\n{note.format(sent=counter.text(kept))}"
            if fixed + counter.text(candidate) <= budget.total or allowed == 0:
                return candidate, Truncation(original_tokens=original, sent_tokens=counter.text(kept))
            allowed = max(0, allowed - 8)

    # -- rendering -----------------------------------------------------------------------
    def _render(self, plans: _Plans, new_text: str) -> tuple[list[ChatMessage], dict[int, str]]:
        """The messages, and each chosen candidate's text as placed (keyed by ``id(candidate)``)."""
        sections = [self.system_prompt]
        rendered: dict[int, str] = {}
        # Document excerpts are [1]..[k], the numbers answers cite as sources; other items follow on.
        number, excerpt = len(plans.documents.chosen), 0
        noted = False
        for plan, heading in (
            (plans.core, self.templates.core_heading),
            (plans.summary, self.templates.summary_heading),
            (plans.long_term, self.templates.long_term_heading),
            (plans.documents, self.templates.documents_heading),
        ):
            lines = []
            for candidate in plan.chosen:
                if plan is plans.documents:
                    excerpt += 1
                    rendered[id(candidate)] = self._render_item(excerpt, candidate.item)
                    lines.append(rendered[id(candidate)])
                    continue
                number += 1
                rendered[id(candidate)] = self._render_item(number, candidate.item)
                lines.append(rendered[id(candidate)])
            if not lines:
                continue
            tag = FENCES.get(plan.name)
            if tag is None:
                sections.append(heading + "\n" + "\n".join(lines))
                continue
            if not noted:  # once, before the first section of stored text
                sections.append(self.templates.data_note)
                noted = True
            sections.append(heading + "\n" + fence(tag, "\n".join(lines)))
        messages = [ChatMessage("system", "\n\n".join(sections))]
        for candidate in reversed(plans.turns.chosen):
            role: Role = "assistant" if candidate.item.role == "assistant" else "user"
            rendered[id(candidate)] = candidate.item.text
            messages.append(ChatMessage(role, candidate.item.text))
        messages.append(ChatMessage("user", new_text))
        return messages, rendered

    @staticmethod
    def _render_item(number: int, item: RecalledItem) -> str:
        if item.kind == "document":
            return render_document(number, item)
        return f"[{number}] {neutralise(item.text)}"

    # -- reporting -----------------------------------------------------------------------
    def _tier_reports(
        self,
        plans: _Plans,
        rendered: dict[int, str],
        counter: TokenCounter,
        new_text: str,
        below_floor: tuple[list[RecalledItem], list[RecalledItem]],
    ) -> list[TierReport]:
        def item(candidate: Candidate, text: str | None = None) -> ReportItem:
            source = candidate.item
            shown = text if text is not None else source.text
            return ReportItem(
                id=source.id,
                kind=source.kind,
                text=shown,
                tokens=counter.text(shown),
                score=source.score,
                reason=source.reason if text is not None else "left out: no room in the budget",
                thread_id=source.thread_id,
                message_ids=list(source.message_ids),
                source=source.source,
            )

        def tier(
            name: str, *tier_plans: TierPlan, fixed: list[ReportItem] | None = None, below: Sequence[RecalledItem] = ()
        ) -> TierReport:
            # Conversation turns are listed in the order the model reads them (oldest first).
            chosen = [
                item(c, rendered[id(c)]) for p in tier_plans for c in (reversed(p.chosen) if p.contiguous else p.chosen)
            ]
            items = (fixed or []) + chosen
            return TierReport(
                name=name,
                budget=sum(max(p.share or 0, p.chosen_cost) for p in tier_plans) + sum(i.tokens for i in fixed or []),
                used=sum(i.tokens for i in items),
                items=items,
                dropped=[item(c) for c in [c for p in tier_plans for c in p.dropped][:REPORTED_DROPPED]],
                below_floor=_would_fit(below, sum(max(0, (p.share or 0) - p.chosen_cost) for p in tier_plans), counter),
            )

        prompt = ReportItem(
            id="system-prompt",
            kind="system",
            text=self.system_prompt,
            tokens=counter.text(self.system_prompt),
            reason="system prompt",
        )
        message = ReportItem(
            id="new-message", kind="message", text=new_text, tokens=counter.text(new_text), reason="the new message"
        )
        return [
            tier("system", plans.core, fixed=[prompt]),
            TierReport(name="message", budget=message.tokens, used=message.tokens, items=[message]),
            tier("short_term", plans.summary, plans.turns),
            tier("long_term", plans.long_term, below=below_floor[0]),
            tier("documents", plans.documents, below=below_floor[1]),
        ]
