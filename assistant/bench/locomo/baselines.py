"""Reference rankings of single turns: most recent first, and Okapi BM25 (as ``rank_bm25.BM25Okapi``)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence

from assistant.bench.locomo.dataset import Conversation, Question
from assistant.bench.locomo.metric import WORD, render_turn

Baseline = Callable[[Conversation, Sequence[Question]], list[list[str]]]


def rendered_turns(conversation: Conversation) -> list[str]:
    """Every turn of the conversation, rendered, in order."""
    return [render_turn(turn, session.date_text) for session, turn in conversation.turns()]


def tokenize(text: str) -> list[str]:
    return WORD.findall(text.lower())


class BM25Okapi:
    """Okapi BM25 with rank_bm25's idf: negative idfs become ``epsilon`` times the mean idf."""

    def __init__(
        self, corpus: Sequence[Sequence[str]], k1: float = 1.5, b: float = 0.75, epsilon: float = 0.25
    ) -> None:
        self.k1, self.b = k1, b
        self.doc_freqs = [Counter(doc) for doc in corpus]
        self.doc_len = [len(doc) for doc in corpus]
        self.avgdl = sum(self.doc_len) / len(corpus) if corpus else 0.0
        df: Counter[str] = Counter()
        for freqs in self.doc_freqs:
            df.update(freqs.keys())
        n = len(corpus)
        self.idf = {word: math.log(n - count + 0.5) - math.log(count + 0.5) for word, count in df.items()}
        average = sum(self.idf.values()) / len(self.idf) if self.idf else 0.0
        for word, value in self.idf.items():
            if value < 0:
                self.idf[word] = epsilon * average
        self.norms = [k1 * (1 - b + b * length / self.avgdl) for length in self.doc_len]
        # Documents without a query word add nothing, so only those with it are visited.
        self.postings: dict[str, list[tuple[int, int]]] = {}
        for i, freqs in enumerate(self.doc_freqs):
            for word, tf in freqs.items():
                self.postings.setdefault(word, []).append((i, tf))

    def scores(self, query: Sequence[str]) -> list[float]:
        """One score per document; repeated query words count each time, as in rank_bm25."""
        result = [0.0] * len(self.doc_len)
        for word in query:
            idf = self.idf.get(word, 0.0)
            for i, tf in self.postings.get(word, ()):
                result[i] += idf * (tf * (self.k1 + 1) / (tf + self.norms[i]))
        return result


def recency(conversation: Conversation, questions: Sequence[Question]) -> list[list[str]]:
    """For every question, the turns from the last one backwards."""
    ranked = rendered_turns(conversation)[::-1]
    return [ranked for _ in questions]


def bm25(conversation: Conversation, questions: Sequence[Question]) -> list[list[str]]:
    """For every question, the turns by BM25 score over their renderings, ties in conversation order."""
    items = rendered_turns(conversation)
    index = BM25Okapi([tokenize(item) for item in items])
    ranked = []
    for question in questions:
        scores = index.scores(tokenize(question.question))
        order = sorted(range(len(items)), key=lambda i: -scores[i])
        ranked.append([items[i] for i in order])
    return ranked


BASELINES: dict[str, Baseline] = {"recency": recency, "bm25": bm25}
