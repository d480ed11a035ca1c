"""Re-ranking the vector leg by what sets a row apart from the other rows it found.

e5 models place the turns of one chat close together: the leg's nearest rows to a question hold
chatty turns that resemble every question ("That's awesome! Have you read anything good lately?")
beside the turn that answers it. The mean of the rows the leg found is that shared direction; a
row's similarity to the question, less ``CENTRE_WEIGHT`` times its similarity to that mean, says
what the row has of the question in particular. Only the order within the leg changes (ranks are
what fusion reads); similarities, and so the relevance floor, are untouched.
Measured in docs/benchmarks.md, "Round five (issue 20): a named person's turns, their own
search, and centring".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

CENTRE_WEIGHT = 0.5

Key = TypeVar("Key")


def centred_ranks(leg: Mapping[Key, tuple[int, float, float | None]]) -> dict[Key, int]:
    """New ranks (from 1) for the leg's rows, given each row's (rank, distance to the question, distance to
    the leg's mean). A row without a distance to the mean keeps its place relative to the others."""

    def adjusted(item: tuple[Key, tuple[int, float, float | None]]) -> tuple[float, int]:
        rank, distance, centre = item[1]
        centre_similarity = 0.0 if centre is None else 1.0 - centre
        return (-((1.0 - distance) - CENTRE_WEIGHT * centre_similarity), rank)

    return {key: position for position, (key, _) in enumerate(sorted(leg.items(), key=adjusted), start=1)}
