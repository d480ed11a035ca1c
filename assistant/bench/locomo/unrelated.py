"""Everyday requests unrelated to any conversation: what a memory injects when nothing it holds is relevant."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BUILT_IN = Path(__file__).with_name("unrelated.txt")


def load_requests(path: Path | None = None) -> list[str]:
    """One request per line; blank lines and lines starting with ``#`` are skipped."""
    lines = (path or BUILT_IN).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


@dataclass
class UnrelatedScores:
    """Long-term tokens injected per unrelated request, at one budget."""

    tokens: list[int] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        if not self.tokens:
            return {"tokens_mean": None, "none_share": None, "asked": 0}
        return {
            "tokens_mean": round(sum(self.tokens) / len(self.tokens), 1),
            "none_share": round(sum(1 for t in self.tokens if t == 0) / len(self.tokens), 4),
            "asked": len(self.tokens),
        }
