"""Combining the vector and full-text rankings of a hybrid search into one score.

Reciprocal rank fusion adds ``weight / (k + rank)`` for each ranking a record is in;
long-term memory then scales that by how important and how recent a memory is and
whether it falls in a period the query names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

# Tuned on LoCoMo (shared/bench): a small k and a heavier vector weight beat the usual k=60, 1:1.
RRF_K = 10
VECTOR_WEIGHT = 1.5
TEXT_WEIGHT = 1.0


def reciprocal_rank(
    vector_rank: int | None,
    text_rank: int | None,
    *,
    vector_weight: float = VECTOR_WEIGHT,
    text_weight: float = TEXT_WEIGHT,
) -> float:
    """The fused score of a record at these ranks (``None``: not found by that search)."""
    fused = 0.0
    if vector_rank is not None:
        fused += vector_weight / (RRF_K + vector_rank)
    if text_rank is not None:
        fused += text_weight / (RRF_K + text_rank)
    return fused


@dataclass(frozen=True)
class Weights:
    vector: float = VECTOR_WEIGHT
    text: float = TEXT_WEIGHT
    importance: float = 0.2
    recency: float = 0.1
    recency_half_life_days: float = 90.0
    period: float = 0.5
    # The context-vector leg (memory/long_term/context_vectors.py) as a share of a vector leg at the same rank.
    context: float = 1.0
    # The leg over the turns of the people a query names (memory/long_term/named_leg.py), likewise.
    named: float = 0.5


def boosted(
    fused: float,
    weights: Weights,
    *,
    importance: float,
    said_at: datetime,
    now: datetime,
    period: tuple[datetime, datetime] | None,
) -> float:
    """``fused`` scaled up for importance above the middle, for recency, and for falling in ``period``."""
    age_days = max(0.0, (now - said_at).total_seconds() / 86400)
    recency = math.exp(-age_days * math.log(2) / weights.recency_half_life_days)
    boost = 1.0 + weights.importance * (importance - 0.5) + weights.recency * recency
    if period is not None and period[0] <= said_at < period[1]:
        boost += weights.period
    return fused * boost
