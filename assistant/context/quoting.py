"""Stored text reaches the model as quoted data, never as instructions or headings.

Memories, summaries and document excerpts are text from storage: a user's note, a summary the model
wrote, a file's contents. Any of them can hold what looks like a heading (``# SYSTEM``), one of the
prompt's own delimiters (``<document n="1">``, ``</memories>``) or an item label (``[3]``). So each
section of them sits between delimiters (``<memories>`` ... ``</memories>``), the prompt says that
what is inside is data, and the text is neutralised so it cannot open or close a delimiter, start a
heading, or pose as another item:

- ``<`` before a tag name (``<document``, ``</memories``, ``<system``, ``<!--``) becomes ``‹`` (in document
  excerpts, which may be code or HTML, only before the prompt's own delimiters);
- a line that starts with ``#``, ``[n]``, ``---``, ``===`` or a code fence gets a backslash before it.
"""

from __future__ import annotations

import re

from memory.recall import RecalledItem

_TAG = re.compile(r"<(?=[/!?]?[A-Za-z!?])")
# In document excerpts (code, HTML) only the prompt's own delimiters are neutralised.
_OWN_TAG = re.compile(r"<(?=/?(?:document|memories|summary)\b)", re.IGNORECASE)
_LINE_START = re.compile(r"^(\s*)(#|\[\d|-{3}|={3}|```)")
# The delimiter of each tier's section (documents have their own, one per excerpt).
FENCES = {"core": "memories", "summary": "summary", "long_term": "memories"}


def neutralise(text: str) -> str:
    """``text`` as data: no tag of its own, no heading or item label at the start of a line."""
    lines = _TAG.sub("‹", text).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(_LINE_START.sub(r"\1\\\2", line) for line in lines)


def fence(tag: str, body: str) -> str:
    return f"<{tag}>\n{body}\n</{tag}>"


def render_document(number: int, item: RecalledItem) -> str:
    """A document excerpt between delimiters its own text cannot close or open (it is data, not instructions)."""
    source = (item.source or "document").replace('"', "'").replace("<", "‹").replace(">", "›").replace("\n", " ")
    text = _OWN_TAG.sub("‹", item.text)
    return f'<document n="{number}" source="{source}">\n{text}\n</document>'
