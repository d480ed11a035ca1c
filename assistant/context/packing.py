"""Choosing items for one tier under a token cap."""

from __future__ import annotations

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
