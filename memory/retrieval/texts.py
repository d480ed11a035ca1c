"""What each searchable record kind embeds, and the words the relevance floor reads in it.

Every writer of a vector (the episodic writer, ``remember`` and ``edit``, document
ingestion, import and re-embedding) builds its text here, so a record embedded on
its way in and one embedded again later get the same vector.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


def turn_text(text: str, speaker: str | None, role: str | None) -> str:
    """An episodic turn: who said it, then what they said."""
    return f"{speaker or role}: {text}"


def semantic_text(text: str) -> str:
    """A semantic memory: the fact as stated."""
    return text


def memory_text(kind: str, text: str, speaker: str | None, role: str | None) -> str:
    """A row of ``memories``, whichever kind it is."""
    return turn_text(text, speaker, role) if kind == "episodic" else semantic_text(text)


def chunk_text(section: str | None, text: str) -> str:
    """A document chunk: the section path gives a short chunk its topic."""
    return f"{section}\n{text}" if section else text


def memory_words(text: str, speaker: str | None) -> str:
    """The words of a memory the relevance floor looks for the query's in: its speaker's name and its text."""
    return f"{speaker or ''} {text}"


def chunk_words(text: str, section: str | None) -> str:
    """The words of a chunk the relevance floor looks for the query's in: its section path and its text."""
    return f"{section or ''} {text}"


@dataclass(frozen=True)
class EmbeddedText:
    """How to rebuild a record's embedded text from its row: these columns, given in order to ``build``."""

    columns: tuple[str, ...]
    build: Callable[..., str]


MEMORY_TEXT = EmbeddedText(("kind", "text", "speaker", "role"), memory_text)
CHUNK_TEXT = EmbeddedText(("section", "text"), chunk_text)
