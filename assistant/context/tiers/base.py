"""What a context tier is: the protocol every tier meets, and the offer it hands the packer for one request.

A tier finds candidates for a query in its own store and prices them; the one packer
(``assistant/context/packer.py``) shares the budget between the tiers' offers, and the
context manager renders what was chosen. Built-in tiers and how to add one: docs/architecture.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from assistant.context.packing import LABEL_TOKENS, Candidate, TierPlan
from assistant.context.quoting import fence, neutralise, render_document
from assistant.context.sources import CoreMemorySource, DocumentSource, LongTermSource
from assistant.providers.tokens import TokenCounter
from memory.conversations import Message, Thread
from memory.recall import RecalledItem
from memory.short_term.window import ShortTermMemory

Render = Callable[[int, RecalledItem], str]


@dataclass(frozen=True)
class TierStores:
    """The stores tiers read, handed to each registered tier when the runtime is assembled."""

    short_term: ShortTermMemory
    core: CoreMemorySource
    long_term: LongTermSource
    documents: DocumentSource


@dataclass(frozen=True)
class TierRequest:
    """What tiers are asked for: candidates for a chat turn, or (``thread`` None) for a block another tool
    puts in its own prompt (MCP's ``get_context``, the LoCoMo benchmark)."""

    user_id: uuid.UUID
    query: str
    counter: TokenCounter
    now: datetime
    headings: Mapping[str, str]  # each section's heading; "" for none
    thread: Thread | None = None
    message: Message | None = None
    in_context: frozenset[uuid.UUID] = frozenset()  # messages already placed by an earlier phase
    long_term_off: str | None = None  # why nothing may be recalled from long-term memory, in words

    @property
    def for_turn(self) -> bool:
        return self.thread is not None

    def heading(self, section: str) -> str:
        return self.headings.get(section, "")


def render_item(number: int, item: RecalledItem) -> str:
    """An item as placed in the system message: a numbered line of quoted text, or a delimited excerpt."""
    if item.kind == "document":
        return render_document(number, item)
    return f"[{number}] {neutralise(item.text)}"


@dataclass
class Section:
    """One heading's worth of a tier in the system message (or in a block)."""

    plan: TierPlan
    heading: str
    fence: str | None = None  # stored text sits between <fence> delimiters; None: items carry their own
    cited: bool = False  # numbered [1]..[k] before every other item: the numbers answers cite
    render: Render = render_item


@dataclass
class Offer:
    """One tier's candidates for one request, as plans the packer fills."""

    tier: ContextTier
    sections: list[Section] = field(default_factory=list)
    conversation: TierPlan | None = None  # placed as chat messages after the system message, oldest first
    below_floor: list[RecalledItem] = field(default_factory=list)  # found but not relevant enough (reported)
    in_context: frozenset[uuid.UUID] = frozenset()  # messages this tier placed: later phases leave them out

    @property
    def plans(self) -> list[TierPlan]:
        """The tier's plans in packing order: spare room is offered, and items dropped, in this order."""
        return ([self.conversation] if self.conversation else []) + [s.plan for s in self.sections]

    @property
    def reported(self) -> list[TierPlan]:
        """The plans in the order the report lists their items (the order the model reads them)."""
        return [s.plan for s in self.sections] + ([self.conversation] if self.conversation else [])


class ContextTier(Protocol):
    """A source of context for the model, with its share of the token budget."""

    @property
    def name(self) -> str:
        """The share's key: the ``share_<name>`` setting and the settings panel's slider."""
        ...

    @property
    def title(self) -> str:
        """The settings panel's words for it."""
        ...

    @property
    def priority(self) -> int:
        """Lower is more important: placed first, packed first, trimmed last."""
        ...

    @property
    def default_share(self) -> float:
        """Its share of the budget when no setting names it."""
        ...

    @property
    def phase(self) -> int:
        """Tiers gather in phases, lowest first, side by side within one."""
        ...

    @property
    def standalone(self) -> bool:
        """Whether it also offers candidates outside a conversation (MCP's get_context)."""
        ...

    @property
    def report_name(self) -> str:
        """Its name in the context report."""
        ...

    @property
    def report_title(self) -> str:
        """Its heading where a report is shown (chat, ``/context``)."""
        ...

    @property
    def recalled(self) -> bool:
        """Whether its items are listed with a reply as what was recalled for it (not the conversation itself)."""
        ...

    @property
    def headings(self) -> Mapping[str, str]:
        """Its sections and their default headings ("": the heading comes from prompts/context.toml)."""
        ...

    source: Any  # the store it reads (a test may put its own in)

    def render(self, number: int, item: RecalledItem) -> str:
        """One item as placed in the system message, labelled ``number``."""
        ...

    async def candidates(self, request: TierRequest) -> Offer:
        """Candidates for ``request``, best first and priced, as the tier's sections."""
        ...

    def allocate(self, offer: Offer, cap: int) -> None:
        """Choose from ``offer`` within ``cap`` tokens, the tier's share of the budget."""
        ...

    async def warm(self, user_id: uuid.UUID, query: str) -> None:
        """Start the slow part of a coming request for ``query`` (an embedding), if the tier has one."""
        ...


class Tier:
    """Defaults for a tier: one section, packed best first up to its share, nothing to warm."""

    name: str
    title: str
    priority: int
    default_share: float
    phase: int = 2
    standalone: bool = False
    recalled: bool = True
    heading: str = ""  # its sections' default heading; "" when prompts/context.toml has it (``<section>_heading``)
    sections: tuple[str, ...] = ()  # its sections' names, if not just its own name

    def __init__(self, source: Any = None) -> None:
        self.source = source

    @classmethod
    def from_stores(cls, stores: TierStores) -> Tier:
        """The tier for a runtime's stores (a tier that reads none of them ignores them)."""
        return cls()

    @property
    def report_name(self) -> str:
        return self.name

    @property
    def report_title(self) -> str:
        return self.title[:1].upper() + self.title[1:]

    @property
    def headings(self) -> Mapping[str, str]:
        return {section: self.heading for section in self.sections or (self.name,)}

    def render(self, number: int, item: RecalledItem) -> str:
        return render_item(number, item)

    async def candidates(self, request: TierRequest) -> Offer:
        raise NotImplementedError

    def allocate(self, offer: Offer, cap: int) -> None:
        for plan in offer.plans:
            plan.fill(cap - sum(p.chosen_cost for p in offer.plans if p is not plan))

    async def warm(self, user_id: uuid.UUID, query: str) -> None:
        return None


def heading_cost(heading: str, tag: str | None, counter: TokenCounter) -> int:
    """What a section's heading and, for stored text, its delimiters add to a turn's system message."""
    return counter.text(heading) + 2 + (counter.text(fence(tag, "")) if tag else 0)


def block_heading_cost(heading: str, tag: str | None, counter: TokenCounter) -> int:
    """The same, as a block counts it (heading and empty delimiters counted together)."""
    return counter.text(heading + (fence(tag, "") if tag else "")) + 2


def listed_section(
    tier: ContextTier,
    items: list[RecalledItem],
    request: TierRequest,
    *,
    tag: str | None,
    cited: bool = False,
    section: str | None = None,
) -> Section:
    """A section (named after the tier unless ``section`` is given) of numbered items, each priced as the tier
    renders it with a two-digit label (the final count catches any difference)."""
    name = section or tier.name
    heading = request.heading(name)
    counter = request.counter
    candidates = [Candidate(item, counter.text(tier.render(99, item)) + LABEL_TOKENS) for item in items]
    cost = heading_cost(heading, tag, counter) if candidates else 0
    return Section(TierPlan(name, candidates, heading_cost=cost), heading, tag, cited, tier.render)


def above_floor(items: Iterable[RecalledItem]) -> tuple[list[RecalledItem], list[RecalledItem]]:
    """A tier's candidates split into those that may be used and those below the relevance floor."""
    above: list[RecalledItem] = []
    below: list[RecalledItem] = []
    for item in items:
        (below if item.below_floor else above).append(item)
    return above, below
