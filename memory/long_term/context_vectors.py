"""A context vector per episodic turn, so a turn that only makes sense beside its neighbours can be found.

"Take a look at this." or "I started teaching people how to make this" share no word and
little meaning with a question about them; the turns around them do. Each episodic turn
keeps, beside its own vector, ``context_embedding``: the sum of its own vector counted
twice and the vectors of the turns just before and after it in its thread (cosine
distance ignores the length, so no normalising is needed). It costs no embedding call:
it is computed in SQL from stored vectors, in the transaction that stores the turn, and
recomputed for the neighbours whose window changes, when a turn is stored after them
or forgotten beside them: nothing derived from a forgotten turn stays.

Search uses it as a third leg (``context_leg``), but the turn itself is what is ranked,
counted and shown. The relevance floor still lets a turn *match* only on its own
similarity and words; a turn found by its context may be *related* on the words and
similarity of its window (``window_words``).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from memory.long_term.records import MEMORY_COLUMNS, MemoryRecord
from memory.retrieval.texts import memory_words

DEPTH = 50  # turns the context leg reads at most (the other legs read 150)

# The turns of a window: the turn itself (counted twice, so it stays the centre) and one on each side.
_SIDE = """SELECT p.embedding FROM memories p
           WHERE p.user_id = m.user_id AND p.thread_id = m.thread_id AND p.kind = 'episodic'
             AND p.valid_to IS NULL AND p.embedding IS NOT NULL AND p.seq {op} m.seq
           ORDER BY p.seq {order} LIMIT 1"""

_REFRESH = f"""
UPDATE memories m SET context_embedding = (
    SELECT sum(w.embedding) FROM (
        SELECT m.embedding
        UNION ALL SELECT m.embedding
        UNION ALL ({_SIDE.format(op="<", order="DESC")})
        UNION ALL ({_SIDE.format(op=">", order="ASC")})
    ) w(embedding))
WHERE m.id = ANY(%s) AND m.kind = 'episodic' AND m.embedding IS NOT NULL
  AND m.thread_id IS NOT NULL AND m.seq IS NOT NULL
"""

_NEIGHBOURS = """
SELECT n.id FROM memories m CROSS JOIN LATERAL (
    (SELECT p.id FROM memories p WHERE p.user_id = m.user_id AND p.thread_id = m.thread_id
       AND p.kind = 'episodic' AND p.valid_to IS NULL AND p.seq < m.seq ORDER BY p.seq DESC LIMIT 1)
    UNION ALL
    (SELECT p.id FROM memories p WHERE p.user_id = m.user_id AND p.thread_id = m.thread_id
       AND p.kind = 'episodic' AND p.valid_to IS NULL AND p.seq > m.seq ORDER BY p.seq LIMIT 1)
) n
WHERE m.id = ANY(%s) AND m.kind = 'episodic' AND m.thread_id IS NOT NULL AND m.seq IS NOT NULL
"""

_COLUMNS = ", ".join("m." + c.strip() for c in MEMORY_COLUMNS.split(","))
# The turn just before or after ``m`` in its thread, for the words of its window.
_BESIDE = """LEFT JOIN LATERAL (
    SELECT p.text, p.speaker FROM memories p
    WHERE p.user_id = m.user_id AND p.thread_id = m.thread_id AND p.kind = 'episodic'
      AND p.valid_to IS NULL AND p.seq {op} m.seq
    ORDER BY p.seq {order} LIMIT 1) {alias} ON true"""

# Numbered in the order the index returns them, as before the windows were joined (a relaxed-order scan
# may return a row a little out of place; the ranks stay what the scan gave).
_LEG = f"""
WITH leg AS MATERIALIZED (
    SELECT {_COLUMNS}, m.embedding <=> %(vector)s AS own_distance, m.context_embedding <=> %(vector)s AS distance
    FROM memories m
    WHERE m.user_id = %(user)s AND m.valid_to IS NULL AND (%(pinned)s OR NOT m.pinned)
      AND m.context_embedding IS NOT NULL
    ORDER BY m.context_embedding <=> %(vector)s LIMIT %(depth)s
), numbered AS (SELECT leg.*, row_number() OVER () AS leg_rank FROM leg)
SELECT m.*, b.text AS before_text, b.speaker AS before_speaker, a.text AS after_text, a.speaker AS after_speaker
FROM numbered m
{_BESIDE.format(op="<", order="DESC", alias="b")}
{_BESIDE.format(op=">", order="ASC", alias="a")}
ORDER BY m.leg_rank
"""


async def neighbours(conn: AsyncConnection, memory_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
    """The current episodic turns just before and after each of these in its thread."""
    if not memory_ids:
        return set()
    rows = await (await conn.execute(_NEIGHBOURS, (list(memory_ids),))).fetchall()
    return {r[0] for r in rows}


async def refresh(conn: AsyncConnection, memory_ids: Iterable[uuid.UUID]) -> int:
    """Compute the context vector of these turns from the current rows (other memories are left alone)."""
    ids = list(set(memory_ids))
    if not ids:
        return 0
    return (await conn.execute(_REFRESH, (ids,))).rowcount


async def stored(conn: AsyncConnection, memory_ids: Collection[uuid.UUID]) -> None:
    """After these turns were stored: their windows and their neighbours' windows."""
    await refresh(conn, {*memory_ids, *await neighbours(conn, memory_ids)})


async def refresh_all(conn: AsyncConnection) -> int:
    """Every turn's context vector again (after re-embedding: the old ones mix the old model's vectors)."""
    rows = await (
        await conn.execute("SELECT id FROM memories WHERE kind = 'episodic' AND embedding IS NOT NULL")
    ).fetchall()
    done = 0
    for start in range(0, len(rows), 5000):
        done += await refresh(conn, [r[0] for r in rows[start : start + 5000]])
    return done


@dataclass(frozen=True)
class ContextHit:
    memory: MemoryRecord
    rank: int  # from 1, by the context vector's distance
    similarity: float  # of the context vector to the query
    own_similarity: float | None  # of the turn's own vector
    window: str  # the words of the turn and of the turns just before and after it (for the floor)


async def context_leg(
    conn: AsyncConnection, user_id: uuid.UUID, vector: object, *, depth: int, include_pinned: bool
) -> list[ContextHit]:
    """The ``depth`` turns whose windows are nearest the query's vector, nearest first."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_LEG, {"vector": vector, "user": user_id, "pinned": include_pinned, "depth": depth})
        rows = await cur.fetchall()
    hits = []
    for rank, row in enumerate(rows, 1):
        own, distance, _ = row.pop("own_distance"), row.pop("distance"), row.pop("leg_rank")
        beside = [(row.pop(f"{side}_text"), row.pop(f"{side}_speaker")) for side in ("before", "after")]
        memory = MemoryRecord(**row)
        hits.append(
            ContextHit(
                memory,
                rank,
                1.0 - float(distance),
                None if own is None else 1.0 - float(own),
                window_words(memory, *beside),
            )
        )
    return hits


def window_words(
    turn: MemoryRecord, before: tuple[str | None, str | None], after: tuple[str | None, str | None]
) -> str:
    """The words of ``turn`` and of the turns just before and after it, given as (text, speaker)."""
    window = [before, (turn.text, turn.speaker), after]
    return " ".join(memory_words(text, speaker) for text, speaker in window if text is not None)
