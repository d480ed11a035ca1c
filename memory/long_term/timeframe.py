"""Periods a query names ("in March", "May 2023", "29.12.2023", "last week"), to favour memories from then."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

MONTHS = {
    name: index
    for index, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_MONTH_YEAR = re.compile(r"\b(" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\b\.?(?:,?\s+(\d{4}))?", re.I)
_YEAR = re.compile(r"\b(19\d\d|20\d\d)\b")
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
# 29.12.2023, 29/12/23, 12/29/2023: day first unless only month first makes a date.
_NUMERIC_DATE = re.compile(r"\b(\d{1,2})([./-])(\d{1,2})\2(\d{4}|\d{2})\b")
_NUMERIC_MONTH = re.compile(r"(?<![\d.,/])\b(\d{1,2})[./](\d{4})\b(?![.,/]\d)")


def numeric_date(text: str) -> datetime | None:
    """The first numeric date in ``text`` (ISO, or day first: ``29.12.2023``, ``1/2/24``), naive, or None."""
    iso = _ISO_DATE.search(text)
    if iso:
        return _date(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
    found = _NUMERIC_DATE.search(text)
    if not found:
        return None
    first, second, year = int(found.group(1)), int(found.group(3)), int(found.group(4))
    year += 2000 if year < 100 else 0
    return _date(year, second, first) or _date(year, first, second)


def _date(year: int, month: int, day: int) -> datetime | None:
    try:
        return datetime(year, month, day)
    except ValueError:
        return None


def _month_span(year: int, month: int) -> tuple[datetime, datetime]:
    start = datetime(year, month, 1)
    end = datetime(year + (month == 12), month % 12 + 1, 1)
    return start, end


def period_in(query: str, now: datetime) -> tuple[datetime, datetime] | None:
    """The time span the query refers to, in ``now``'s time zone, or None."""
    tz = now.tzinfo
    text = query.lower()
    relative = {
        "yesterday": (timedelta(days=1), timedelta(days=0)),
        "last week": (timedelta(days=14), timedelta(days=0)),
        "last month": (timedelta(days=62), timedelta(days=0)),
        "last year": (timedelta(days=730), timedelta(days=0)),
    }
    for phrase, (back, _) in relative.items():
        if phrase in text:
            return now - back, now
    day = numeric_date(query)
    if day is not None:
        return day.replace(tzinfo=tz), (day + timedelta(days=1)).replace(tzinfo=tz)
    numeric_month = _NUMERIC_MONTH.search(query)
    if numeric_month and 1 <= int(numeric_month.group(1)) <= 12:
        start, end = _month_span(int(numeric_month.group(2)), int(numeric_month.group(1)))
        return start.replace(tzinfo=tz), end.replace(tzinfo=tz)
    found = _MONTH_YEAR.search(query)
    # "may" is a month only with a year or after "in"/"of"/"since"; otherwise it is the verb.
    may_verb = found is not None and found.group(1).lower() == "may" and not found.group(2)
    if may_verb and found is not None and re.search(r"\b(in|of|since|early|late|mid)\s+may\b", text):
        may_verb = False
    if found and not may_verb:
        year = int(found.group(2)) if found.group(2) else now.year
        start, end = _month_span(year, MONTHS[found.group(1).lower()])
        if not found.group(2) and start.replace(tzinfo=tz) > now:
            start, end = _month_span(year - 1, MONTHS[found.group(1).lower()])
        return start.replace(tzinfo=tz), end.replace(tzinfo=tz)
    year_match = _YEAR.search(query)
    if year_match:
        year = int(year_match.group(1))
        return datetime(year, 1, 1, tzinfo=tz), datetime(year + 1, 1, 1, tzinfo=tz)
    return None
