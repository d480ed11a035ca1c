"""Passwords hidden from any text a person or a log may see."""

from __future__ import annotations

import re


def redact(text: str) -> str:
    """The text with every password in it hidden: in URLs (``scheme://user:secret@``, ``redis://:secret@``),
    in ``?password=`` query parameters and in libpq ``password=`` keywords. For messages and status output,
    so any text that may hold a URL (an error from a driver too) can pass through it."""
    text = re.sub(r"(://[^:/@\s]*:)\S*@", r"\1***@", text)  # up to the last @: a password may hold one
    return re.sub(r"(\bpassword\s*=\s*)('[^']*'|[^\s&]+)", r"\1***", text, flags=re.IGNORECASE)
