"""Evidence recall at a token budget: which turns an item carries, token counts, and greedy packing."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from fractions import Fraction
from functools import lru_cache

from assistant.bench.locomo.dataset import Turn
from assistant.providers.offline_litellm import litellm

TOKEN_MODEL = "gpt-4o-mini"
WORD = re.compile(r"\w+")
# An item carries a turn when it holds at least 3/5 of the turn's distinct words.
SHARE_NUM, SHARE_DEN = 3, 5


def turn_words(text: str) -> set[str]:
    """Distinct lower-cased ``\\w+`` words."""
    return set(WORD.findall(text.lower()))


def _carries(item_words: set[str], item_text: str, turn: Turn, words: set[str]) -> bool:
    if not words:  # a wordless turn (";)") is carried only verbatim
        return bool(turn.text.strip()) and turn.text.strip() in item_text
    return SHARE_DEN * len(words & item_words) >= SHARE_NUM * len(words)


def sources_of(item_text: str, turns: Iterable[Turn]) -> list[str]:
    """The dia_ids of the turns whose content ``item_text`` carries (the 60% rule)."""
    item_words = turn_words(item_text)
    return [t.dia_id for t in turns if _carries(item_words, item_text, t, turn_words(t.text))]


class SourceIndex:
    """The source rule over one conversation's turns, with an inverted index and a cache."""

    def __init__(self, turns: Sequence[Turn]) -> None:
        self.turns = list(turns)
        self.position = {t.dia_id: i for i, t in enumerate(self.turns)}
        self._words = [turn_words(t.text) for t in self.turns]
        self._postings: dict[str, list[int]] = {}
        for position, words in enumerate(self._words):
            for word in words:
                self._postings.setdefault(word, []).append(position)
        self._wordless = [i for i, words in enumerate(self._words) if not words]
        self._cache: dict[str, list[str]] = {}

    def candidates(self, item_text: str) -> list[str]:
        """Every turn the item holds 60% of: ``sources_of(item_text, turns)``, in turn order."""
        return [self.turns[i].dia_id for i in sorted(self._matches(item_text))]

    def sources(self, item_text: str) -> list[str]:
        """The turn(s) an item of kind "turn" stands for: the candidates it carries best.

        Best is the most words in common, then the largest share of the turn's words. A long item often holds 60% of
        some short, generic turn ("Thanks, Gina! I'm excited!") by chance; only the turn it renders counts.
        """
        if (cached := self._cache.get(item_text)) is not None:
            return cached
        matches = self._matches(item_text)
        best = max(matches.values(), default=None)
        found = [self.turns[i].dia_id for i in sorted(matches) if matches[i] == best]
        self._cache[item_text] = found
        return found

    def _matches(self, item_text: str) -> dict[int, tuple[int, Fraction]]:
        """Turn position -> (words in common, share of the turn's words in the item), for the turns carried."""
        item_words = turn_words(item_text)
        overlap: Counter[int] = Counter()
        for word in item_words:
            overlap.update(self._postings.get(word, ()))
        matches = {
            i: (n, Fraction(n, len(self._words[i])))
            for i, n in overlap.items()
            if SHARE_DEN * n >= SHARE_NUM * len(self._words[i])
        }
        for i in self._wordless:
            if _carries(item_words, item_text, self.turns[i], set()):
                matches[i] = (0, Fraction(1))
        return matches


def recall(evidence: Collection[str], present_ids: Iterable[str]) -> float:
    """The share of the evidence turns that are present; 0.0 for no evidence."""
    wanted = set(evidence)
    if not wanted:
        return 0.0
    return len(wanted & set(present_ids)) / len(wanted)


@lru_cache(maxsize=65536)
def count_tokens(text: str) -> int:
    """Tokens of one item with the gpt-4o-mini tokenizer."""
    return int(litellm.token_counter(model=TOKEN_MODEL, text=text))


def pack(ranked_items: Iterable[str], budget: int) -> list[str]:
    """Best first, every item that still fits in what is left of ``budget`` (items that do not fit are skipped)."""
    packed: list[str] = []
    left = budget
    for item in ranked_items:
        tokens = count_tokens(item)
        if tokens <= left:
            packed.append(item)
            left -= tokens
    return packed


def render_turn(turn: Turn, date_text: str) -> str:
    """The baselines' rendering of a turn: ``[<date>] <speaker>: <text>`` and its photo caption."""
    text = f"[{date_text}] {turn.speaker}: {turn.text}"
    return f"{text} [shares a photo: {turn.caption}]" if turn.caption else text
