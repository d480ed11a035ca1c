"""People named by a variant of their name: a query's word matched to a known speaker's name.

Questions name people as they come to mind: a first name or a surname alone, a nickname
that starts the name ("Mel" for Melanie), a misspelling ("Melany", "Carolin"). Search and
the relevance floor look for the name as stored, so the query is given it in place of
the variant. Only names already known (the speakers of the user's memories) are matched,
and only words that look like names: capitalised ones, or any word when the query has
no capitals at all (chat style).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from memory.retrieval.words import STOPWORDS

_WORD = re.compile(r"[^\W\d_]+(?:'s)?", re.UNICODE)
MIN_PREFIX = 3  # "Mel" for Melanie; shorter prefixes match too much
# Names that common words resemble are left alone: a word must differ from every one of these.
_COMMON = frozenset(
    "what who how much many some time year day week month thing things people person family friend friends "
    "love like life work home game games book books made make take told said tell".split()
)


def edit_distance(a: str, b: str, *, limit: int = 2) -> int:
    """Optimal string alignment distance (an adjacent swap costs one), capped just above ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


def _allowed_typos(word: str) -> int:
    return 0 if len(word) < 5 else 1 if len(word) < 8 else 2


def name_for(word: str, names: Sequence[str]) -> str | None:
    """The known name ``word`` stands for, or None: a part of it, a prefix of a part, or a near spelling."""
    low = word.lower()
    if low in STOPWORDS or low in _COMMON or len(low) < 2:
        return None
    found: list[str] = []
    for name in names:
        parts = [p.lower() for p in re.findall(r"[^\W\d_]+", name)]
        if low == name.lower() or low in parts:
            return name
        if len(low) >= MIN_PREFIX and any(p.startswith(low) and len(p) > len(low) for p in parts):
            found.append(name)
            continue
        typos = _allowed_typos(low)
        if typos and any(p[0] == low[0] and edit_distance(low, p, limit=typos) <= typos for p in parts):
            found.append(name)
    # A variant that fits two people is left as it is.
    return found[0] if len(found) == 1 else None


def with_known_names(query: str, names: Sequence[str]) -> str:
    """``query`` with each variant of a known name replaced by the name itself."""
    if not names:
        return query
    lowercase_only = not any(c.isupper() for c in query)

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        word, possessive = (token[:-2], token[-2:]) if token.lower().endswith("'s") else (token, "")
        if not (lowercase_only or word[:1].isupper()):
            return token
        name = name_for(word, names)
        if name is None or name.lower() == word.lower():
            return token
        return name + possessive

    return _WORD.sub(replace, query)


def named_speakers(query: str, names: Sequence[str]) -> set[str]:
    """The known names that ``query`` holds as whole words (after ``with_known_names``)."""
    return {name for name in names if re.search(rf"\b{re.escape(name)}\b", query, re.I)}
