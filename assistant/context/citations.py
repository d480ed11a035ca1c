"""The document excerpts a turn put in front of the model, and which of them a reply cites."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from assistant.context.report import ContextReport

_NUMBER = re.compile(r'^<document n="(\d+)"')
_CITATION = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
_WRAPPER = re.compile(r"^<document [^>]*>\n?|\n?</document>$")


@dataclass(frozen=True)
class DocumentSource:
    number: int  # the [n] the model was told to cite
    chunk_id: uuid.UUID  # DocumentService.chunks(user_id, [chunk_id]) gives its text and place
    source: str  # document name, page, section
    text: str  # the excerpt as placed in the prompt (inside its delimiters)


def document_sources(report: ContextReport | dict[str, Any]) -> list[DocumentSource]:
    """Every excerpt of the report's documents tier, in prompt order."""
    parsed = report if isinstance(report, ContextReport) else ContextReport.model_validate(report)
    sources = []
    for item in parsed.tier("documents").items:
        match = _NUMBER.match(item.text)
        if match is None:
            continue
        sources.append(DocumentSource(int(match.group(1)), uuid.UUID(item.id), item.source or "", item.text))
    return sources


def cited_numbers(reply: str) -> set[int]:
    """The numbers a reply cites as ``[n]`` or ``[n, m]``."""
    return {int(n) for group in _CITATION.findall(reply) for n in group.split(",")}


def cited_sources(report: ContextReport | dict[str, Any], reply: str) -> list[DocumentSource]:
    """The excerpts the reply cites (the ones to show as its sources)."""
    numbers = cited_numbers(reply)
    return [s for s in document_sources(report) if s.number in numbers]


def excerpt(text: str) -> str:
    """An excerpt as a reader sees it: the prompt's ``<document ...>`` delimiters taken off."""
    return _WRAPPER.sub("", text).strip()
