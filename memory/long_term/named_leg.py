"""The turns of the people a question names, nearest the question first: a leg of recall's search.

"What pets does Nate have?" is answered in Nate's turns, and the one that answers it ("My turtles
love the new tank") can sit past the nearest 150 of all the user's turns, behind the other
speaker's and Nate's own chatty ones. So when a question names people whose turns are stored,
one more nearest-neighbour search runs over their turns alone; it scores as the vector leg would
at the same rank. What it finds still has to clear the relevance floor (a named person's turn is
related at the floor's ``named_similarity``). Measured in docs/benchmarks.md, "Round five (issue
20): a named person's turns, their own search, and centring".
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from memory.long_term.records import MEMORY_COLUMNS, MemoryRecord

DEPTH = 150

_COLUMNS = ", ".join("m." + c.strip() for c in MEMORY_COLUMNS.split(","))
_LEG = f"""
SELECT {_COLUMNS}, m.embedding <=> %(vector)s AS distance
FROM memories m
WHERE m.user_id = %(user)s AND m.valid_to IS NULL AND (%(pinned)s OR NOT m.pinned)
  AND m.kind = 'episodic' AND m.speaker = ANY(%(speakers)s) AND m.embedding IS NOT NULL
ORDER BY m.embedding <=> %(vector)s LIMIT %(depth)s
"""


@dataclass(frozen=True)
class NamedHit:
    memory: MemoryRecord
    rank: int  # from 1, among the named people's turns
    similarity: float


async def named_leg(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    vector: object,
    speakers: Collection[str],
    *,
    depth: int,
    include_pinned: bool,
) -> list[NamedHit]:
    """The ``depth`` turns of these speakers nearest the query's vector, nearest first."""
    params = {"vector": vector, "user": user_id, "pinned": include_pinned, "depth": depth, "speakers": list(speakers)}
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_LEG, params)
        rows = await cur.fetchall()
    return [
        NamedHit(MemoryRecord(**row), rank, 1.0 - float(distance))
        for rank, (row, distance) in enumerate(((r, r.pop("distance")) for r in rows), 1)
    ]
