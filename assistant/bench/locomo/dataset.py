"""Reading LoCoMo-format files: conversations in sessions, and questions with their evidence turns."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dateutil import parser as date_parser

from memory.errors import InvalidInputError

SESSION_KEY = re.compile(r"session_(\d+)")
DIA_ID = re.compile(r"D\d+:\d+")
SCORED_CATEGORIES = (1, 2, 3, 4)
# Five LoCoMo conversations shipped with the project (CC BY-NC 4.0; data/README.md says where they come from).
DEV_FILE = Path(__file__).with_name("data") / "locomo-dev.json"
# The team's copy beside a checkout: read only when the shipped one has been left out.
SHARED_DEV_FILE = Path(__file__).resolve().parents[4] / "shared" / "bench" / "locomo" / "locomo-dev.json"


def dev_file() -> Path:
    """The LoCoMo file the benchmarks read when none is given."""
    return SHARED_DEV_FILE if not DEV_FILE.is_file() and SHARED_DEV_FILE.is_file() else DEV_FILE


@dataclass(frozen=True)
class Turn:
    dia_id: str
    speaker: str
    text: str
    caption: str | None = None


@dataclass(frozen=True)
class Session:
    index: int
    date_text: str
    date: datetime | None
    turns: list[Turn] = field(default_factory=list)


@dataclass(frozen=True)
class Conversation:
    """What a memory under test may read: the two speakers and their sessions, nothing else."""

    sample_id: str
    speaker_a: str
    speaker_b: str
    sessions: list[Session]

    def turns(self) -> Iterator[tuple[Session, Turn]]:
        """Every turn in order, with its session."""
        for session in self.sessions:
            for turn in session.turns:
                yield session, turn

    @property
    def last_date(self) -> datetime | None:
        """The latest readable session date (sessions are not always in date order)."""
        dates = [s.date for s in self.sessions if s.date is not None]
        return max(dates, key=_comparable) if dates else None


def _comparable(moment: datetime) -> datetime:
    """Naive UTC, so dates with and without a zone compare (a date without one is taken as UTC)."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


@dataclass(frozen=True)
class Question:
    question: str
    answer: str
    category: int
    evidence: list[str]


@dataclass(frozen=True)
class Sample:
    """One conversation with its usable questions, and the questions dropped for want of valid evidence."""

    conversation: Conversation
    questions: list[Question]
    dropped: list[Question]


def load_locomo(path: str | Path) -> list[Sample]:
    """Every sample of a LoCoMo-format file; a file not in that format is an ``InvalidInputError``."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidInputError(f"{path} cannot be read as JSON: {exc}") from exc
    if not isinstance(raw, list):
        raise InvalidInputError(f"{path}: expected a JSON list of samples, as in the LoCoMo format")
    samples = []
    for number, item in enumerate(raw, 1):
        try:
            samples.append(_sample(item, number))
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise InvalidInputError(f"{path}: sample {number} is not in the LoCoMo format ({exc!r})") from exc
    return samples


def _sample(item: dict[str, Any], number: int) -> Sample:
    # Only `conversation` and `qa` are read: the generated summaries and observations must stay unseen.
    conv = item["conversation"]
    numbers = sorted(int(m.group(1)) for key in conv if (m := SESSION_KEY.fullmatch(key)))
    sessions = []
    for number in numbers:
        date_text = str(conv.get(f"session_{number}_date_time") or "")
        turns = [_turn(t) for t in conv[f"session_{number}"] or []]
        sessions.append(Session(index=number, date_text=date_text, date=parse_date(date_text), turns=turns))
    conversation = Conversation(
        sample_id=str(item.get("sample_id") or f"sample-{number}"),
        speaker_a=str(conv.get("speaker_a", "")),
        speaker_b=str(conv.get("speaker_b", "")),
        sessions=sessions,
    )
    known = {turn.dia_id for _, turn in conversation.turns()}
    questions: list[Question] = []
    dropped: list[Question] = []
    for qa in item.get("qa") or []:
        question = _question(qa, known)
        (questions if question.evidence else dropped).append(question)
    return Sample(conversation=conversation, questions=questions, dropped=dropped)


def _turn(raw: dict[str, Any]) -> Turn:
    caption = raw.get("blip_caption")
    return Turn(
        dia_id=str(raw.get("dia_id", "")),
        speaker=str(raw.get("speaker", "")),
        text=str(raw.get("text") or ""),
        caption=str(caption) if caption else None,
    )


def _question(raw: dict[str, Any], known: set[str]) -> Question:
    answer = raw.get("answer", raw.get("adversarial_answer"))
    evidence: list[str] = []
    for item in raw.get("evidence") or []:
        dia_id = str(item).strip()
        if DIA_ID.fullmatch(dia_id) and dia_id in known and dia_id not in evidence:
            evidence.append(dia_id)
    return Question(
        question=str(raw.get("question", "")),
        answer="" if answer is None else str(answer),
        category=int(raw.get("category", 0)),
        evidence=evidence,
    )


_TIME = re.compile(r"\b(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?(?:\s*([ap])\.?m\b\.?)?", re.IGNORECASE)
_HOUR_ONLY = re.compile(r"\b(\d{1,2})\s*([ap])\.?m\b\.?", re.IGNORECASE)
_FILLER = re.compile(r"\b(?:on|at|the|of)\b|\b(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\b", re.IGNORECASE)
_SEPT = re.compile(r"\bSept\b", re.IGNORECASE)
_ORDINAL = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)\b", re.IGNORECASE)
_DATE_FORMATS = (
    "%d %B %Y",
    "%d %b %Y",
    "%B %d %Y",
    "%b %d %Y",
    "%d.%m.%Y",
    "%d/%m/%Y",
    "%d-%m-%Y",
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%Y.%m.%d",
    "%d.%m.%y",
    "%d/%m/%y",
)
_YEAR = re.compile(r"\b\d{4}\b")
_UNSET = datetime(2000, 1, 1)


def parse_date(text: str) -> datetime | None:
    """A session date in any common style (numeric dates day first), or None when it cannot be read."""
    text = original = text.strip()
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        pass
    hour = minute = second = 0
    if match := _TIME.search(text):
        hour, minute, second = int(match[1]), int(match[2]), int(match[3] or 0)
        meridian = match[4]
    elif match := _HOUR_ONLY.search(text):
        hour, meridian = int(match[1]), match[2]
    else:
        meridian = None
    if match:
        if meridian:
            if not 1 <= hour <= 12:
                return None
            hour = hour % 12 + (12 if meridian.lower() == "p" else 0)
        text = text[: match.start()] + " " + text[match.end() :]
    day = _SEPT.sub("Sep", _ORDINAL.sub(r"\1", _FILLER.sub(" ", text)))
    day = " ".join(day.replace(",", " ").split())
    for fmt in _DATE_FORMATS:
        try:
            parsed = datetime.strptime(day, fmt)
        except ValueError:
            continue
        try:
            return parsed.replace(hour=hour, minute=minute, second=second)
        except ValueError:
            return None
    return _parse_other(original)


def _parse_other(text: str) -> datetime | None:
    """Any other style dateutil reads (day first when ambiguous), provided the text names a year."""
    if not _YEAR.search(text):
        return None  # "8 May" or "session 3" would get a made-up year
    try:
        return date_parser.parse(text, dayfirst=True, default=_UNSET)
    except (ValueError, OverflowError):
        return None
