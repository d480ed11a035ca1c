"""How many tokens a turn may use, and how they are shared between the tiers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TierShares:
    """Each tier's share (by name) of what is left after the system prompt and the new message; unused share
    flows on. The tiers and their default shares come from the registry (assistant/context/tiers/)."""

    values: Mapping[str, float] = field(default_factory=dict)

    def of(self, name: str) -> float:
        return self.values.get(name, 0.0)

    def normalised(self, fallback: TierShares | None = None) -> TierShares:
        """The shares scaled to sum to one; all zero (or none), the ``fallback`` as it is."""
        total = sum(self.values.values())
        if total <= 0:
            return fallback or TierShares()
        return TierShares({name: value / total for name, value in self.values.items()})


@dataclass(frozen=True)
class Budget:
    window: int
    reserve: int
    margin: int

    @property
    def total(self) -> int:
        return self.window - self.reserve - self.margin

    @classmethod
    def for_window(cls, window: int, *, answer_tokens: int, margin_tokens: int = 16) -> Budget:
        reserve = min(answer_tokens, window // 4)
        margin = max(margin_tokens, window // 200)
        return cls(window, reserve, margin)
