"""The context manager: for each turn, exactly what the model sees, within its window, and why.

The tiers come from the registry (assistant/context/tiers/), most important first: by default
the system prompt with pinned core memories, then the new message, short-term memory (newest
turns, then the rolling summary), long-term memories, document excerpts. Each tier has a share
of the budget; what a tier leaves unused flows to the others (assistant/context/packer.py). The
final rendered messages are counted with the model's tokenizer and trimmed, lowest priority
first, until they fit.
"""

from __future__ import annotations

import asyncio
import copy
import time
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from assistant.context import packer
from assistant.context.budget import Budget, TierShares
from assistant.context.packing import LABEL_TOKENS, Candidate, TierPlan
from assistant.context.quoting import fence
from assistant.context.report import ContextReport, ReportItem, TierReport, Truncation
from assistant.context.templates import ContextTemplates
from assistant.context.tiers.base import ContextTier, Offer, TierRequest
from assistant.providers.base import ChatMessage, Role
from assistant.providers.tokens import TokenCounter
from memory.conversations import Message, Thread
from memory.recall import RecalledItem

REPORTED_DROPPED = 20  # per tier, best first: enough to explain a choice without pricing hundreds of items


@dataclass(frozen=True)
class BuiltContext:
    messages: list[ChatMessage]
    report: ContextReport


@dataclass(frozen=True)
class Block:
    """Context for another tool's prompt: the text, and each item placed (with its tier's name)."""

    text: str
    items: list[ReportItem]


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
        tiers: Sequence[ContextTier],
        *,
        system_prompt: str,
        templates: ContextTemplates,
        shares: TierShares,
        answer_tokens: int,
        margin_tokens: int = 16,
    ) -> None:
        self.tiers = sorted(tiers, key=lambda tier: tier.priority)
        self.system_prompt = system_prompt
        self.templates = templates
        self.headings = {
            section: templates.heading(section, default)
            for tier in self.tiers
            for section, default in tier.headings.items()
        }
        self.defaults = TierShares({tier.name: tier.default_share for tier in self.tiers})
        self.shares = shares.normalised(self.defaults)
        self.answer_tokens = answer_tokens
        self.margin_tokens = margin_tokens
        self._warming: set[asyncio.Future[None]] = set()

    def tier(self, name: str) -> ContextTier:
        return next(tier for tier in self.tiers if tier.name == name)

    def use_source(self, name: str, source: object) -> None:
        """Let the tier ``name`` of this manager read ``source`` (tests put their own items in)."""
        tier = copy.copy(self.tier(name))
        tier.source = source
        self.tiers = [tier if t.name == name else t for t in self.tiers]

    def with_shares(self, shares: TierShares) -> TierShares:
        return shares.normalised(self.defaults)

    def budget(self, window: int) -> Budget:
        return Budget.for_window(window, answer_tokens=self.answer_tokens, margin_tokens=self.margin_tokens)

    def warm(self, thread: Thread, text: str) -> None:
        """Start embedding a message about to be stored and built for, so its storing overlaps the embedding."""
        warming = asyncio.ensure_future(self._warm(thread.user_id, text))
        self._warming.add(warming)  # the event loop keeps only a weak reference to a task
        warming.add_done_callback(self._warmed)

    async def _warm(self, user_id: uuid.UUID, text: str) -> None:
        for tier in self.tiers:
            await tier.warm(user_id, text)

    def _warmed(self, done: asyncio.Future[None]) -> None:
        self._warming.discard(done)
        if not done.cancelled():
            done.exception()  # any error shows again, where it matters, when the build embeds the same text

    async def _gather(self, request: TierRequest, tiers: Sequence[ContextTier]) -> tuple[list[Offer], float]:
        """Each tier's offer (in the tiers' order), phase by phase; and how long the first phase took (ms)."""
        offers: dict[str, Offer] = {}
        phase_ms: list[float] = []
        for phase in sorted({tier.phase for tier in tiers}):
            clock = time.perf_counter()
            now = [tier for tier in tiers if tier.phase == phase]
            for tier, offer in zip(now, await asyncio.gather(*(t.candidates(request) for t in now)), strict=True):
                offers[tier.name] = offer
                request = replace(request, in_context=request.in_context | offer.in_context)
            phase_ms.append((time.perf_counter() - clock) * 1000)
        return [offers[tier.name] for tier in tiers], (phase_ms or [0.0])[0]

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
        request = TierRequest(
            thread.user_id,
            message.content,
            counter,
            now or datetime.now(UTC),
            self.headings,
            thread=thread,
            message=message,
            long_term_off=long_term_off,
        )
        offers, timings["load_short_term"] = await self._gather(request, self.tiers)
        timings["retrieve"] = (time.perf_counter() - clock) * 1000 - timings["load_short_term"]

        clock = time.perf_counter()
        new_text, truncation = self._fit_message(message.content, counter, budget)
        base = counter.messages([ChatMessage("system", self.system_prompt), ChatMessage("user", new_text)])
        if any(s.fence and s.plan.candidates for offer in offers for s in offer.sections):
            base += counter.text(self.templates.data_note) + 2  # said once before the fenced sections
        packer.allocate(offers, self.shares, budget.total - base)
        messages, rendered = self._render(offers, new_text)
        used = counter.messages(messages)
        while used > budget.total and packer.drop_one(offers):
            messages, rendered = self._render(offers, new_text)
            used = counter.messages(messages)
        timings["assemble"] = (time.perf_counter() - clock) * 1000

        report = ContextReport(
            model=model,
            window=budget.window,
            reserve=budget.reserve,
            margin=budget.margin,
            budget=budget.total,
            used=used,
            tiers=self._tier_reports(offers, rendered, counter, new_text),
            truncated=truncation,
            long_term_off=long_term_off,
            timings_ms=timings,
            created_at=datetime.now(UTC),
        )
        return BuiltContext(messages, report)

    async def block(
        self,
        user_id: uuid.UUID,
        query: str,
        *,
        model: str,
        budget: int,
        now: datetime,
        long_term_off: str | None = None,
        tiers: Collection[str] | None = None,
        headed: bool = True,
    ) -> Block:
        """Context for ``query`` outside a conversation, within ``budget`` tokens counted with ``model``'s
        tokenizer: the standalone tiers (or those named), filled in priority order; ``headed=False`` for the
        items alone, without headings or the note on quoted data."""
        chosen = [t for t in self.tiers if (t.name in tiers if tiers is not None else t.standalone)]
        counter = TokenCounter(model)
        request = TierRequest(
            user_id, query, counter, now, self.headings if headed else {}, long_term_off=long_term_off
        )
        offers, _ = await self._gather(request, chosen)
        note = self.templates.data_note
        used = counter.text(note) + 2 if headed else 0  # stored text is quoted data: the note, fenced sections
        packed = packer.pack_block(offers, budget, counter, used=used)
        text = "\n\n".join([note, *(p.text for p in packed)]) if packed and headed else ""
        return Block(text, [item for p in packed for item in p.items])

    async def long_term_context(
        self, user_id: uuid.UUID, query: str, *, model: str, budget: int, now: datetime
    ) -> list[ReportItem]:
        """The long-term tier alone under ``budget`` tokens, each item counted on its own (for benchmarks)."""
        found = await self.block(user_id, query, model=model, budget=budget, now=now, tiers={"long_term"}, headed=False)
        return found.items

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
    def _render(self, offers: Sequence[Offer], new_text: str) -> tuple[list[ChatMessage], dict[int, str]]:
        """The messages, and each chosen candidate's text as placed (keyed by ``id(candidate)``)."""
        sections = [self.system_prompt]
        rendered: dict[int, str] = {}
        placed = [section for offer in offers for section in offer.sections]
        # Cited items (document excerpts) are [1]..[k], the numbers answers cite as sources; other items follow on.
        number, cited = sum(len(s.plan.chosen) for s in placed if s.cited), 0
        noted = False
        for section in placed:
            lines = []
            for candidate in section.plan.chosen:
                if section.cited:
                    cited += 1
                    rendered[id(candidate)] = section.render(cited, candidate.item)
                else:
                    number += 1
                    rendered[id(candidate)] = section.render(number, candidate.item)
                lines.append(rendered[id(candidate)])
            if not lines:
                continue
            if section.fence is None:
                sections.append(section.heading + "\n" + "\n".join(lines))
                continue
            if not noted:  # once, before the first section of stored text
                sections.append(self.templates.data_note)
                noted = True
            sections.append(section.heading + "\n" + fence(section.fence, "\n".join(lines)))
        messages = [ChatMessage("system", "\n\n".join(sections))]
        for offer in offers:
            for candidate in reversed(offer.conversation.chosen if offer.conversation else []):
                role: Role = "assistant" if candidate.item.role == "assistant" else "user"
                rendered[id(candidate)] = candidate.item.text
                messages.append(ChatMessage(role, candidate.item.text))
        messages.append(ChatMessage("user", new_text))
        return messages, rendered

    # -- reporting -----------------------------------------------------------------------
    def _tier_reports(
        self, offers: Sequence[Offer], rendered: dict[int, str], counter: TokenCounter, new_text: str
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

        def tier(offer: Offer, fixed: list[ReportItem]) -> TierReport:
            plans: list[TierPlan] = offer.reported
            # Conversation turns are listed in the order the model reads them (oldest first).
            chosen = [
                item(c, rendered[id(c)]) for p in plans for c in (reversed(p.chosen) if p.contiguous else p.chosen)
            ]
            items = fixed + chosen
            room = sum(max(0, (p.share or 0) - p.chosen_cost) for p in plans)
            return TierReport(
                name=offer.tier.report_name,
                budget=sum(max(p.share or 0, p.chosen_cost) for p in plans) + sum(i.tokens for i in fixed),
                used=sum(i.tokens for i in items),
                items=items,
                dropped=[item(c) for c in [c for p in plans for c in p.dropped][:REPORTED_DROPPED]],
                below_floor=_would_fit(offer.below_floor, room, counter),
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
        # The most important tier is reported with the system prompt, then the new message, then the others.
        reports = [tier(offer, [prompt] if index == 0 else []) for index, offer in enumerate(offers)]
        reports.insert(1, TierReport(name="message", budget=message.tokens, used=message.tokens, items=[message]))
        return reports
