"""The one input boundary: every text that enters the assistant passes through these functions.

Chat messages (browser, `assistant chat` argument and stdin), command-line arguments, MCP tool
arguments, `memory import` files, the settings panel and user names are decoded and cleaned
the same way, and the same limits apply on every path:

- Text that is not valid Unicode is refused. Python hands over undecodable bytes (command-line
  arguments, stdin read with ``surrogateescape``) and JSON's ``"\\ud800"`` escapes as lone
  surrogates; no store or terminal can hold them, so they are refused with the position of the first.
- NUL is removed everywhere (Postgres text cannot hold it).
- Free text (messages, memories, queries) keeps tabs and line breaks; other control characters
  (ESC, backspace, C1 controls) are removed: they mean nothing in text and rewrite terminals.
- Names (users, threads, documents) are one line: control characters, line and paragraph separators
  and invisible format characters (bidi overrides, zero-width spaces) are refused, not stripped, so
  that two names that look alike are never silently made the same; ZWJ/ZWNJ (emoji, scripts) stay.
- Lengths: a message is at most ``ASSISTANT_MAX_MESSAGE_CHARS`` (100,000 by default), a memory
  4,000 characters, a name 200, a document name 255 (and has no folder part).

Pure functions, no I/O: ``memory/`` and ``assistant/`` both call them. Errors are
``InvalidInputError`` whose message never repeats the bad text raw.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from memory.errors import InvalidInputError

MAX_MESSAGE_CHARS = 100_000
MAX_MEMORY_CHARS = 4_000
MAX_QUERY_CHARS = MAX_MESSAGE_CHARS
MAX_NAME_CHARS = 200
MAX_DOCUMENT_NAME_CHARS = 255
MAX_JSON_DEPTH = 64

_SURROGATE = re.compile("[\ud800-\udfff]")
# Free text: C0 controls but tab, LF, CR; DEL; C1 controls. NUL is among them.
_TEXT_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_KEPT_FORMAT = {"\u200c", "\u200d"}  # ZWNJ, ZWJ: needed by emoji sequences and several scripts
_PRINTABLE_NAMES = {"\x1b": "ESC", "\n": "LF", "\r": "CR", "\t": "TAB", "\x00": "NUL"}


def _char_name(ch: str) -> str:
    return _PRINTABLE_NAMES.get(ch) or f"U+{ord(ch):04X}"


def check_unicode(value: object, what: str) -> str:
    """``value`` as a str that any store and terminal can hold; refuses other types and lone surrogates."""
    if not isinstance(value, str):
        raise InvalidInputError(f"{what} must be text, not {type(value).__name__}")
    bad = _SURROGATE.search(value)
    if bad is not None:
        code = ord(bad.group())
        # surrogateescape maps an undecodable byte 0xNN to U+DCNN.
        detail = f"byte 0x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"lone surrogate U+{code:04X}"
        raise InvalidInputError(
            f"{what} is not valid UTF-8 text ({detail} at character {bad.start() + 1}); nothing was changed",
            hint="send it as UTF-8 (check the terminal's or the file's encoding)",
        )
    return value


def free_text(value: object, what: str, *, max_chars: int | None, allow_empty: bool = False) -> str:
    """A message, memory, query or other free text: valid, without NUL/control characters, within ``max_chars``."""
    text = _TEXT_CONTROLS.sub("", check_unicode(value, what))
    if not allow_empty and not text.strip():
        raise InvalidInputError(f"{what} is empty")
    if max_chars is not None and len(text) > max_chars:
        raise InvalidInputError(f"{what} has {len(text):,} characters; the limit is {max_chars:,}")
    return text


def message(value: object, *, max_chars: int = MAX_MESSAGE_CHARS) -> str:
    """A chat message (every face)."""
    return free_text(value, "the message", max_chars=max_chars)


def memory_text(value: object) -> str:
    """The text of a memory someone states (command, CLI, MCP, import of a fact): trimmed, at most 4,000 chars."""
    text = free_text(value, "a memory", max_chars=None, allow_empty=True).strip()
    if not text:
        raise InvalidInputError("a memory needs some text")
    if len(text) > MAX_MEMORY_CHARS:
        raise InvalidInputError(f"a memory is at most {MAX_MEMORY_CHARS:,} characters (this one has {len(text):,})")
    return text


def query(value: object, *, max_chars: int = MAX_QUERY_CHARS) -> str:
    """A search query (CLI, MCP, chat commands)."""
    return free_text(value, "the search query", max_chars=max_chars)


def name(value: object, what: str = "a user name", *, max_chars: int = MAX_NAME_CHARS) -> str:
    """A one-line name (user, thread): NFC, trimmed, 1 to ``max_chars`` characters, no invisible characters."""
    text = unicodedata.normalize("NFC", check_unicode(value, what).replace("\x00", "")).strip()
    for ch in text:
        category = unicodedata.category(ch)
        if category in ("Cc", "Zl", "Zp") or (category == "Cf" and ch not in _KEPT_FORMAT):
            raise InvalidInputError(
                f"{what} cannot contain control or invisible characters ({_char_name(ch)} found)",
                hint="use letters, digits, spaces and punctuation on one line",
            )
    if not text or len(text) > max_chars:
        raise InvalidInputError(f"{what} must have 1 to {max_chars} characters")
    return text


def lookup_name(value: object, what: str = "a user name") -> str:
    """A name used only to find something that exists (never stored): valid Unicode, trimmed."""
    return check_unicode(value, what).replace("\x00", "").strip()


def document_name(value: object) -> str:
    """A document's name: its last path part only (``../../etc/passwd`` is ``passwd``), one line, at most 255."""
    text = check_unicode(value, "a document name").replace("\x00", "")
    base = PureWindowsPath(PurePosixPath(text).name).name
    base = "".join(ch for ch in base if unicodedata.category(ch) not in ("Cc", "Cf", "Zl", "Zp")).strip()
    if base in ("", ".", ".."):
        raise InvalidInputError("a document needs a file name (a name without folders)")
    if len(base) > MAX_DOCUMENT_NAME_CHARS:  # cut the stem: the extension says how to read the file
        suffix = PurePosixPath(base).suffix[:16]
        base = base[: MAX_DOCUMENT_NAME_CHARS - len(suffix)] + suffix
    return base


def json_value(value: Any, what: str, *, path: str = "", depth: int = 0) -> Any:
    """JSON data from outside (an import line, its metadata), checked and cleaned: valid strings without NUL,
    finite numbers, integers Postgres can hold, at most ``MAX_JSON_DEPTH`` levels deep. Errors name the field."""
    where = f"{what}: {path}" if path else what
    if depth > MAX_JSON_DEPTH:
        raise InvalidInputError(f"{where} is nested more than {MAX_JSON_DEPTH} levels deep")
    if isinstance(value, str):
        return check_unicode(value, where).replace("\x00", "")
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        if abs(value) >= 10**18:
            raise InvalidInputError(f"{where} holds a number too large to store ({len(str(abs(value)))} digits)")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInputError(f"{where} holds a number that is not finite")
        return value
    if isinstance(value, Mapping):
        cleaned = {}
        for key, item in value.items():
            key = json_value(key, what, path=f"{path} (a key)", depth=depth + 1)
            cleaned[key] = json_value(item, what, path=f"{path}.{key}" if path else str(key), depth=depth + 1)
        return cleaned
    if isinstance(value, list | tuple):
        return [json_value(v, what, path=f"{path}[{i}]", depth=depth + 1) for i, v in enumerate(value)]
    raise InvalidInputError(f"{where} holds a {type(value).__name__}, which is not JSON")


def shown(value: str) -> str:
    """Text safe to print on a terminal: control and invisible characters as visible escapes (``\\x1b``)."""
    out = []
    for ch in value:
        category = unicodedata.category(ch)
        if category in ("Cc", "Zl", "Zp", "Cs") or (category == "Cf" and ch not in _KEPT_FORMAT):
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


def decode(data: bytes, what: str) -> str:
    """Bytes from a file or a pipe as UTF-8 text (a BOM is dropped); anything else is refused with where it is."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InvalidInputError(
            f"{what} is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}); nothing was changed",
            hint="save it as UTF-8",
        ) from None
