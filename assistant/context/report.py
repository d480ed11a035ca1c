"""The context report: what the model saw on a turn, tier by tier, and why (stored as JSONB)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field


class ReportItem(BaseModel):
    id: str
    kind: str
    text: str = Field(description="The text exactly as it was placed in the prompt.")
    tokens: int
    score: float | None = None
    reason: str = ""
    thread_id: uuid.UUID | None = None
    message_ids: list[uuid.UUID] = Field(default_factory=list)
    source: str | None = Field(None, description="For a document excerpt: document name, page and section.")


class TierReport(BaseModel):
    name: str
    budget: int = Field(description="Tokens this tier could use (its share, plus what others left).")
    used: int
    items: list[ReportItem] = Field(default_factory=list)
    dropped: list[ReportItem] = Field(default_factory=list, description="Candidates left out for lack of budget.")
    below_floor: int = Field(
        0, description="Candidates left out as not relevant enough (below the relevance floor) that had room."
    )


class Truncation(BaseModel):
    original_tokens: int
    sent_tokens: int


class ContextReport(BaseModel):
    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    model: str
    window: int = Field(description="The model's input window in tokens.")
    reserve: int = Field(description="Tokens kept for the answer.")
    margin: int
    budget: int = Field(description="window - reserve - margin: the most the input may use.")
    used: int = Field(description="Tokens of the whole rendered input, counted with the model's tokenizer.")
    tiers: list[TierReport]
    truncated: Truncation | None = None
    long_term_off: str | None = Field(None, description="Why long-term memory was not read on this turn.")
    timings_ms: dict[str, float] = Field(default_factory=dict)
    created_at: datetime | None = None

    def tier(self, name: str) -> TierReport:
        return next(t for t in self.tiers if t.name == name)
