"""How many tokens a turn may use, and how they are shared between the tiers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TierShares:
    """Shares of what is left after the system prompt and the new message; unused share flows on."""

    core: float = 0.10
    short_term: float = 0.45
    long_term: float = 0.30
    documents: float = 0.15

    def normalised(self) -> TierShares:
        total = self.core + self.short_term + self.long_term + self.documents
        if total <= 0:
            return TierShares()
        return TierShares(self.core / total, self.short_term / total, self.long_term / total, self.documents / total)


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
