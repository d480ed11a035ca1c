"""Choosing items for one tier under a token cap."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from memory.recall import RecalledItem

# Room for an item's "[n] " label and line break, so estimates never undercount.
LABEL_TOKENS = 4
# What a chat message costs beyond its content (role, separators).
MESSAGE_TOKENS = 5


@dataclass
class Candidate:
    item: RecalledItem
    cost: int  # tokens this item adds to the rendered input (an upper estimate)
    chosen: bool = False


@dataclass
class TierPlan:
    """One tier's candidates (in priority order) and what was chosen."""

    name: str
    candidates: list[Candidate]
    heading_cost: int = 0
    contiguous: bool = False  # stop at the first item that does not fit (conversation turns)
    share: int | None = None  # the cap of the tier's first fill: its own share of the budget
    chosen_cost: int = field(default=0)

    def fill(self, cap: int) -> None:
        """Choose more items, best first, while the tier's cost stays within ``cap``."""
        if self.share is None:
            self.share = cap
        for candidate in self.candidates:
            if candidate.chosen:
                continue
            extra = candidate.cost + (self.heading_cost if self.chosen_cost == 0 else 0)
            if self.chosen_cost + extra <= cap:
                candidate.chosen = True
                self.chosen_cost += extra
            elif self.contiguous:
                return

    def drop_last(self) -> bool:
        """Unchoose the lowest-priority chosen item; False when nothing is chosen."""
        for candidate in reversed(self.candidates):
            if candidate.chosen:
                candidate.chosen = False
                self.chosen_cost -= candidate.cost
                if not any(c.chosen for c in self.candidates):
                    self.chosen_cost = 0
                return True
        return False

    @property
    def chosen(self) -> list[Candidate]:
        return [c for c in self.candidates if c.chosen]

    @property
    def dropped(self) -> list[Candidate]:
        return [c for c in self.candidates if not c.chosen]


class GroupedPlan(TierPlan):
    """A tier whose turns of one conversation share an item: a date header once, then a line each.

    Candidates come ranked; packing walks them best first (a turn costs its line, plus the
    header when it opens its group) and renders groups in the order their best turn came.
    The exact count of the rendered items is checked after, dropping the last-packed turns.
    """

    MAX_MISSES = 20  # consecutive turns that did not fit before the walk stops

    def __init__(
        self,
        name: str,
        candidates: list[Candidate],
        count: Callable[[str], int],
        render: Callable[[RecalledItem], str],
        *,
        heading_cost: int,
    ) -> None:
        super().__init__(name, candidates, heading_cost=heading_cost)
        self._count = count
        self._render = render
        self._picked: list[Candidate] = []
        self._groups: list[Candidate] = []

    def fill(self, cap: int) -> None:
        if self.share is None:
            self.share = cap
        self._picked = []
        used = self.heading_cost
        misses = 0
        opened: set[str] = set()
        for candidate in self.candidates:
            item = candidate.item
            key = item.group_key
            if key is None or item.line is None:
                cost = candidate.cost
            elif key in opened:
                cost = self._count(item.line) + 1
            else:
                cost = self._count(f"{item.group_header} {item.line}") + LABEL_TOKENS
            if used + cost <= cap:
                self._picked.append(candidate)
                if key is not None:
                    opened.add(key)
                used += cost
                misses = 0
            else:
                misses += 1
                if misses >= self.MAX_MISSES or cap - used < 8:
                    break
        self._regroup()
        while self._picked and self.chosen_cost > cap:
            self._picked.pop()
            self._regroup()

    def _regroup(self) -> None:
        groups: dict[str, list[Candidate]] = {}
        order: list[str | Candidate] = []
        for candidate in self._picked:
            key = candidate.item.group_key
            if key is None or candidate.item.line is None:
                order.append(candidate)
            elif key not in groups:
                groups[key] = [candidate]
                order.append(key)
            else:
                groups[key].append(candidate)
        self._groups = []
        for entry in order:
            if isinstance(entry, Candidate):
                self._groups.append(entry)
                continue
            members = sorted(groups[entry], key=lambda c: c.item.order)
            self._groups.append(Candidate(_group_item(members), 0, chosen=True))
        for group in self._groups:
            group.cost = self._count(self._render(group.item))
        self.chosen_cost = sum(g.cost for g in self._groups) + (self.heading_cost if self._groups else 0)

    def drop_last(self) -> bool:
        if not self._picked:
            return False
        self._picked.pop()
        self._regroup()
        return True

    @property
    def chosen(self) -> list[Candidate]:
        return list(self._groups)

    @property
    def dropped(self) -> list[Candidate]:
        picked = {id(c) for c in self._picked}
        return [c for c in self.candidates if id(c) not in picked]


def _group_item(members: list[Candidate]) -> RecalledItem:
    first = members[0].item
    if len(members) == 1 and first.line is None:
        return first
    lines = [m.item.line or m.item.text for m in members]
    text = "\n".join([f"{first.group_header} {lines[0]}".strip(), *lines[1:]])
    scores = [m.item.score for m in members if m.item.score is not None]
    return RecalledItem(
        id=",".join(m.item.id for m in members),
        kind=first.kind,
        text=text,
        score=max(scores) if scores else None,
        reason="; ".join(sorted({m.item.reason for m in members if m.item.reason})),
        thread_id=first.thread_id,
        message_ids=tuple(i for m in members for i in m.item.message_ids),
        created_at=first.created_at,
        role=None,
    )
