"""Long-term memory as the context manager's tiers: pinned core memories, and recalled memories.

Recall ranks by hybrid search, then (as measured on LoCoMo) lifts whole conversations
that hold a strong hit, the turns of the one person a question names, and the turns right
around the best hits, because answers often sit next to the turn that matches the question.
A person named by a variant of their name ("Mel", "Melnaie") is read as the speaker it
stands for. Turns are rendered compactly (a long one without its sentences farthest from
the question's words: memory/retrieval/excerpts.py) and carry what the packer needs to
group them under one date per conversation.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Collection, Sequence
from datetime import datetime

from memory.long_term.duplicates import merge_repeats
from memory.long_term.records import MemoryRecord
from memory.long_term.search import SearchHit
from memory.long_term.service import MemoryService
from memory.recall import RecalledItem
from memory.relevance import BELOW, MATCHES, stem, word_shares
from memory.retrieval.excerpts import excerpt
from memory.retrieval.names import named_speakers, with_known_names
from memory.retrieval.term_stats import TermStats
from memory.retrieval.texts import memory_words
from memory.retrieval.words import distinctive_words

DEPTH = 150  # candidates from each of the two searches
SESSION_BOOST = 0.5  # + this share of the best score in the same conversation
# x (1 + this) for a turn of the one speaker a query names: "What are Melanie's hobbies?" is answered in her turns.
SPEAKER_BOOST = 0.3
NEIGHBOUR_TOP = 10
NEIGHBOUR_DECAY = 0.5
SPEAKERS_TTL_S = 60.0


def short_date(moment: datetime) -> str:
    return f"{moment.day} {moment:%b %Y}"


def render_memory(memory: MemoryRecord) -> str:
    if memory.kind == "episodic":
        return f"({short_date(memory.said_at)}) {memory.speaker or memory.role}: {memory.text}"
    since = short_date(memory.valid_from)
    who = "" if memory.speaker in (None, "user") else f", said by {memory.speaker}"
    return f"{memory.text} (since {since}{who})"


def strip_names(query: str, names: Sequence[str]) -> str:
    """The query without speakers' names (they match every turn of theirs equally), if enough is left."""
    stripped = query
    for name in names:
        stripped = re.sub(rf"\b{re.escape(name)}(?:'s)?\b", "", stripped, flags=re.I)
    stripped = re.sub(r"\s+", " ", stripped).strip()
    return stripped if len(re.findall(r"\w+", stripped)) >= 2 else query


def _reason(hit: SearchHit | None) -> str:
    if hit is None:
        return "next to a strong match in the same conversation"
    parts = []
    if hit.context_rank is not None and hit.vector_rank is None and hit.text_rank is None:
        parts.append(f"its context #{hit.context_rank}")
    if hit.named_rank is not None and hit.vector_rank is None:
        parts.append(f"meaning #{hit.named_rank} among {hit.memory.speaker}'s turns")
    if hit.vector_rank is not None:
        parts.append(f"meaning #{hit.vector_rank}")
    if hit.text_rank is not None:
        parts.append(f"words #{hit.text_rank}")
    return "matched by " + " and ".join(parts) if parts else "recalled"


class LongTermTier:
    def __init__(self, memories: MemoryService, *, context_vectors: bool = True, centred: bool = True) -> None:
        self.memories = memories
        self.context_vectors = context_vectors  # search the turns' context vectors too
        self.centred = centred  # re-rank the vector leg by what sets a turn apart (memory/retrieval/centring.py)
        self._speakers: dict[uuid.UUID, tuple[float, list[str]]] = {}
        self._shares: tuple[TermStats, dict[str, float]] | None = None

    @staticmethod
    def _windows(hits: Sequence[SearchHit]) -> list[tuple[float | None, str] | None]:
        """For each hit found by its context vector, the similarity and words of its window (else None)."""
        return [None if h.context_rank is None else (h.context_similarity, h.context_window or "") for h in hits]

    async def pinned(self, user_id: uuid.UUID) -> list[RecalledItem]:
        return [
            RecalledItem(
                id=str(m.id),
                kind="pinned",
                text=render_memory(m),
                score=None,
                reason="pinned by the user",
                line=m.text,  # its own words, for a block that lists them without dates
                message_ids=tuple(m.source_message_ids),
                created_at=m.said_at,
            )
            for m in await self.memories.pinned(user_id)
        ]

    async def _speaker_names(self, user_id: uuid.UUID) -> list[str]:
        cached = self._speakers.get(user_id)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        async with self.memories.pool.connection() as conn:
            rows = await (
                await conn.execute(
                    "SELECT DISTINCT speaker FROM memories WHERE user_id = %s AND kind = 'episodic' "
                    "AND speaker IS NOT NULL LIMIT 50",
                    (user_id,),
                )
            ).fetchall()
        names = [str(r[0]) for r in rows if r[0] and str(r[0]).lower() not in ("user", "assistant")]
        self._speakers[user_id] = (time.monotonic() + SPEAKERS_TTL_S, names)
        return names

    async def _word_shares(self) -> dict[str, float]:
        """How common each word is in memories (read with the full-text statistics, summed once per reading)."""
        stats = await self.memories.searcher.term_stats.get()
        if self._shares is None or self._shares[0] is not stats:
            self._shares = (stats, word_shares(stats.term_share))
        return self._shares[1]

    async def warm(self, user_id: uuid.UUID, query: str) -> None:
        """Embed ``query`` as ``recall`` will; the search embedder keeps the vector (or shares it in flight)."""
        speakers = await self._speaker_names(user_id)
        vector_query = strip_names(with_known_names(query, speakers), speakers)
        await self.memories.searcher.embedder.queries([vector_query])

    async def recall(
        self, user_id: uuid.UUID, query: str, *, now: datetime, exclude: Collection[uuid.UUID], limit: int
    ) -> list[RecalledItem]:
        searcher = self.memories.searcher
        speakers = await self._speaker_names(user_id)
        query = with_known_names(query, speakers)
        vector_query = strip_names(query, speakers)
        named = named_speakers(query, speakers)
        hits = await searcher.search(
            user_id,
            query,
            now=now,
            limit=3 * DEPTH,
            depth=DEPTH,
            exclude=exclude,
            include_pinned=False,  # pinned memories are already in the core tier
            vector_query=vector_query,
            context=self.context_vectors,
            centred=self.centred,
            named=named,
        )
        # Only what clears the relevance floor is recalled or lifts its conversation; the rest is reported.
        floor = self.memories.floor.for_query(query, await self._word_shares())
        levels = floor.select(
            [
                (h.similarity, memory_words(h.memory.text, h.memory.speaker), h.memory.thread_id or h.memory.id)
                for h in hits
            ],
            self._windows(hits),
            [h.memory.kind == "episodic" and h.memory.speaker in named for h in hits] if named else None,
            [(m.thread_id, m.seq) if m.thread_id and m.seq is not None else None for m in (h.memory for h in hits)],
        )
        relevant = {h.memory.id for h, level in zip(hits, levels, strict=True) if level != BELOW}
        matching = {h.memory.id for h, level in zip(hits, levels, strict=True) if level == MATCHES}
        below = [h for h in hits if h.memory.id not in relevant]
        hits = [h for h in hits if h.memory.id in relevant]
        by_id = {h.memory.id: h for h in hits}
        records = {h.memory.id: h.memory for h in hits}
        scores = {h.memory.id: h.score for h in hits}
        best: dict[uuid.UUID, float] = {}
        for hit in hits:
            key = hit.memory.thread_id or hit.memory.id
            best[key] = max(best.get(key, 0.0), hit.score)
        for memory_id, memory in records.items():
            scores[memory_id] += SESSION_BOOST * best[memory.thread_id or memory.id]
        if len(named) == 1:
            for memory_id, memory in records.items():
                if memory.speaker in named:
                    scores[memory_id] *= 1 + SPEAKER_BOOST
        # Only the turns around a match are lifted: around a merely related turn they cost more than they find.
        top = sorted(matching, key=lambda i: -scores[i])[:NEIGHBOUR_TOP]
        for near in await searcher.neighbours(user_id, [records[i] for i in top]):
            if near.message_id in exclude:
                continue
            parents = [
                scores[i]
                for i in top
                if records[i].thread_id == near.thread_id and records[i].seq is not None and near.seq is not None
            ]
            lifted = NEIGHBOUR_DECAY * max(parents, default=0.0)
            if lifted > scores.get(near.id, 0.0):
                scores[near.id] = lifted
                records.setdefault(near.id, near)
        ranked = sorted(records, key=lambda i: (-scores[i], records[i].said_at, records[i].seq or 0))
        pinned = await self.memories.pinned(user_id)
        merged = merge_repeats([records[i] for i in ranked], pinned=pinned)[:limit]
        # A long turn leaves out the sentences farthest from the question's words (its names aside), so more fit.
        words = {stem(w) for w in distinctive_words(vector_query)}
        items = [self._item(m.shown, scores[m.best.id], by_id.get(m.best.id), told=m.told, words=words) for m in merged]
        return items + [self._item(h.memory, h.score, h, below_floor=True) for h in below if h.memory.id not in records]

    @staticmethod
    def _item(
        memory: MemoryRecord,
        score: float,
        hit: SearchHit | None,
        *,
        told: int = 1,
        below_floor: bool = False,
        words: Collection[str] | None = None,
    ) -> RecalledItem:
        episodic = memory.kind == "episodic"
        said = excerpt(memory.text, words) if episodic and words is not None else memory.text
        shown = memory if said == memory.text else memory.model_copy(update={"text": said})
        reason = _reason(hit) + (f"; said {told} times, the most recent kept" if told > 1 else "")
        if below_floor and hit is not None:
            similarity = "not embedded" if hit.similarity is None else f"similarity {hit.similarity:.2f}"
            reason = f"left out: below the relevance floor ({similarity})"
        return RecalledItem(
            id=str(memory.id),
            kind="turn" if episodic else "memory",
            text=render_memory(shown),
            score=round(score, 6),
            reason=reason,
            below_floor=below_floor,
            thread_id=memory.thread_id,
            message_ids=tuple(memory.source_message_ids),
            created_at=memory.said_at,
            role=memory.role,
            group_key=str(memory.thread_id) if episodic and memory.thread_id else None,
            group_header=f"({short_date(memory.said_at)})" if episodic else None,
            line=f"{memory.speaker or memory.role}: {said}" if episodic else None,
            order=memory.seq or 0,
        )
