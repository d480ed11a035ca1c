"""Structure-aware chunking: blocks into token-bounded chunks that keep to one section and one page.

Paragraphs stay whole where they fit; a paragraph too long for a chunk is cut at
sentences, and a sentence too long at words. A chunk that ends because it is full
hands its last ~``overlap`` tokens to the next, so no sentence loses its context at
a cut; a new heading or page starts a fresh chunk with no overlap. Tokens are
counted with the caller's counter (the chat model's tokenizer, as for the budget).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from memory.documents.parsing import Block
from memory.retrieval.texts import chunk_text

TokenCount = Callable[[str], int]

SEPARATOR = "\n\n"
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+")


@dataclass(frozen=True)
class Chunk:
    ordinal: int
    text: str
    page: int | None
    section: str | None
    tokens: int
    content_hash: str

    @property
    def passage(self) -> str:
        return chunk_text(self.section, self.text)


def chunk_hash(section: str | None, text: str) -> str:
    return hashlib.sha256(f"{section or ''}\x1f{text}".encode()).hexdigest()


def _split_words(text: str, limit: int, count: TokenCount) -> list[str]:
    """Pieces of at most ``limit`` tokens, cut between words (or inside a word longer than the limit)."""
    pieces: list[str] = []
    words = text.split()
    while words:
        low, high = 1, len(words)
        while low < high:  # the most words that fit
            middle = (low + high + 1) // 2
            if count(" ".join(words[:middle])) <= limit:
                low = middle
            else:
                high = middle - 1
        piece = " ".join(words[:low])
        if count(piece) > limit:  # one enormous "word" (a URL, a hash): cut by characters
            keep = max(1, len(piece) * limit // max(1, count(piece)))
            words[0] = piece[keep:]
            piece = piece[:keep]
        else:
            words = words[low:]
        pieces.append(piece)
    return pieces


class Unit(NamedTuple):
    text: str
    tokens: int
    joiner: str  # put before it when it follows another unit: a paragraph break, or a space inside a paragraph


def _join(units: Sequence[Unit]) -> str:
    return "".join((u.joiner if i else "") + u.text for i, u in enumerate(units))


def _cost(units: Sequence[Unit]) -> int:
    """An upper estimate of the joined units' tokens (a joiner costs at most two)."""
    return sum(u.tokens for u in units) + 2 * max(0, len(units) - 1)


def _units(text: str, limit: int, count: TokenCount) -> list[Unit]:
    """The paragraph as one unit, or its sentences (then lines, then word runs) when it is too long."""
    tokens = count(text)
    if tokens <= limit:
        return [Unit(text, tokens, SEPARATOR)]
    units: list[Unit] = []
    for sentence in _SENTENCE_END.split(text):
        sentence = sentence.strip()
        if not sentence:
            continue
        tokens = count(sentence)
        if tokens <= limit:
            units.append(Unit(sentence, tokens, " "))
            continue
        for line in sentence.splitlines():
            line = line.strip()
            tokens = count(line) if line else 0
            if not line:
                continue
            if tokens <= limit:
                units.append(Unit(line, tokens, "\n"))
            else:
                units.extend(Unit(piece, count(piece), " ") for piece in _split_words(line, limit, count))
    if units:
        units[0] = units[0]._replace(joiner=SEPARATOR)
    return units


def _tail(units: Sequence[Unit], overlap: int, count: TokenCount) -> list[Unit]:
    """The last units of a full chunk, about ``overlap`` tokens, to open the next one."""
    if overlap <= 0 or not units:
        return []
    kept: list[Unit] = []
    total = 0
    for unit in reversed(units):
        if total + unit.tokens + 2 > overlap:
            if not kept:  # the last unit alone is longer: take its last sentences, or else its last words
                sentences = [x.strip() for x in _SENTENCE_END.split(unit.text) if x.strip()]
                for size in range(len(sentences) - 1, 0, -1):
                    piece = " ".join(sentences[-size:])
                    tokens = count(piece)
                    if tokens <= overlap:
                        return [Unit(piece, tokens, unit.joiner)]
                words = unit.text.split()
                low, high = 0, len(words)
                while low < high:
                    middle = (low + high + 1) // 2
                    if count(" ".join(words[-middle:])) <= overlap:
                        low = middle
                    else:
                        high = middle - 1
                if low:
                    piece = " ".join(words[-low:])
                    kept.append(Unit(piece, count(piece), unit.joiner))
            break
        kept.append(unit)
        total += unit.tokens + 2
    return list(reversed(kept))


def chunk_blocks(
    blocks: Iterable[Block], *, count: TokenCount, max_tokens: int = 400, overlap_tokens: int = 60
) -> list[Chunk]:
    """Chunks of at most ``max_tokens`` tokens (as counted by ``count``), in document order."""
    if max_tokens < 16:
        raise ValueError("chunks need at least 16 tokens")
    overlap_tokens = max(0, min(overlap_tokens, max_tokens // 2))
    chunks: list[Chunk] = []
    headings: list[tuple[int, str]] = []
    units: list[Unit] = []
    fresh = 0  # units of the current chunk that are not overlap from the previous one
    place: tuple[str | None, int | None] = (None, None)

    def emit() -> None:
        nonlocal units, fresh
        if fresh:
            text = _join(units)
            tokens = count(text)
            while tokens > max_tokens and len(units) > 1:  # the estimate was short: give the last unit back
                carried = units.pop()
                shorter = _join(units)
                chunks.append(_chunk(len(chunks), shorter, place, count(shorter)))
                units = [carried]
                text, tokens = carried.text, carried.tokens
            chunks.append(_chunk(len(chunks), text, place, tokens))
        units, fresh = [], 0

    for block in blocks:
        text = block.text.strip()
        if not text:
            continue
        if block.heading_level:
            emit()
            headings = [h for h in headings if h[0] < block.heading_level] + [(block.heading_level, text)]
            place = (" › ".join(h for _, h in headings), place[1])
            continue
        if block.page != place[1]:
            emit()
            place = (place[0], block.page)
        for unit in _units(text, max_tokens, count):
            if units and _cost([*units, unit]) > max_tokens:
                previous = units
                emit()
                units = _tail(previous, overlap_tokens, count)
                if _cost([*units, unit]) > max_tokens:
                    units = []
            units.append(unit)
            fresh += 1
    emit()
    return chunks


def _chunk(ordinal: int, text: str, place: tuple[str | None, int | None], tokens: int) -> Chunk:
    section, page = place
    return Chunk(ordinal, text, page, section, tokens, chunk_hash(section, text))
