"""Long recalled turns shown without their sentences farthest from the query's words.

A context budget holds more distinct turns when a long turn leaves out its asides: the
sentences farthest from those that hold the query's distinctive words. A turn is cut only
when it is long, some sentence of it holds one of those words, and the cut is worth a mark;
never by more than ``MAX_CUT`` of its distinct words, so what is shown is still mostly that
turn (on LoCoMo, deeper cuts lose the evidence they were meant to make room for). A turn
recalled for its meaning or its neighbours has no sentence to prefer and is shown whole.
Each gap is marked, so a reader (or the model) knows more was said.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from memory.relevance import stem
from memory.retrieval.memo import per_text

LONG_WORDS = 30  # a turn of at most this many words is shown whole
# At most this share of a turn's distinct words is left out: what is shown is still mostly that turn.
MAX_CUT = 0.3
MIN_CUT = 4  # words; a smaller cut is not worth a mark
CUT = "…"

# A sentence ends at . ! ? or … followed by space; a photo's caption ("[shares a photo: ...]") stands alone.
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\s+(?=\[)")
_WORD = re.compile(r"\w+")


def sentences(text: str) -> list[str]:
    """The sentences of ``text`` in order, each stripped (none empty)."""
    parts: list[str] = []
    for line in text.splitlines():
        parts.extend(part.strip() for part in _SENTENCE_END.split(line) if part.strip())
    return parts


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _said(part: str) -> bool:
    """Whether a sentence is the speaker's own words (a bracketed photo caption is kept, and not counted)."""
    return not part.startswith("[")


@dataclass(frozen=True)
class _Parsed:
    parts: tuple[str, ...]  # the sentences
    said: tuple[int, ...]  # the indices of the speaker's own
    words: tuple[tuple[str, ...], ...]  # each sentence's words


@per_text(4096)  # only the words sought change from question to question
def _parse(text: str) -> _Parsed:
    parts = tuple(sentences(text))
    said = tuple(i for i, part in enumerate(parts) if _said(part))
    return _Parsed(parts, said, tuple(tuple(_words(part)) for part in parts))


def excerpt(text: str, words: Collection[str], *, long_words: int = LONG_WORDS) -> str:
    """``text`` without the sentences farthest from those holding any of ``words`` (stems, as
    ``memory.relevance.stem`` gives), ``…`` marking each gap, never more than ``MAX_CUT`` of its distinct
    words; ``text`` itself when it is short, no sentence holds a word, or too little would go."""
    parsed = _parse(text)
    parts, said, words_of = parsed.parts, parsed.said, parsed.words
    if sum(len(words_of[i]) for i in said) <= long_words or not words:
        return text
    wanted = set(words)
    matched = [i for i in said if not wanted.isdisjoint(stem(w) for w in words_of[i])]
    if not matched:
        return text
    distinct = {w for i in said for w in words_of[i]}
    spare = sorted((i for i in said if i not in matched), key=lambda i: (-min(abs(i - m) for m in matched), -i))
    dropped: set[int] = set()
    for index in spare:
        kept = {w for i in said if i not in dropped and i != index for w in words_of[i]}
        if len(distinct - kept) <= MAX_CUT * len(distinct):
            dropped.add(index)
    if sum(len(words_of[i]) for i in dropped) < MIN_CUT:
        return text
    shown: list[str] = []
    for index, part in enumerate(parts):
        if index not in dropped:
            shown.append(part)
        elif not shown or shown[-1] != CUT:
            shown.append(CUT)
    return " ".join(shown)
