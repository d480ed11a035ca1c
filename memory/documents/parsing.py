"""Files to text blocks (headings, paragraphs, with their page), one parser per format.

Parsing is CPU work: callers run :func:`parse` in a thread. Every rejection is an
``InvalidInputError`` naming the file and the reason.
"""

from __future__ import annotations

import codecs
import io
import logging
import zipfile
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Literal

from memory.errors import InvalidInputError

DocumentType = Literal["txt", "md", "pdf", "html", "docx"]

TYPES: dict[str, DocumentType] = {
    ".txt": "txt",
    ".text": "txt",
    ".md": "md",
    ".markdown": "md",
    ".pdf": "pdf",
    ".html": "html",
    ".htm": "html",
    ".docx": "docx",
}


@dataclass(frozen=True)
class Block:
    """A heading or a paragraph (list, table row, code block ...) as it appears in the file."""

    text: str
    heading_level: int = 0  # 1-6 for a heading, 0 for body text
    page: int | None = None


@dataclass(frozen=True)
class ParsedDocument:
    type: DocumentType
    blocks: list[Block] = field(default_factory=list)
    pages: int | None = None


def document_type(filename: str) -> DocumentType:
    suffix = PurePath(filename).suffix.lower()
    if suffix not in TYPES:
        supported = ", ".join(sorted({s for s in TYPES}))
        shown = suffix or "a file without an extension"
        raise InvalidInputError(f"{filename}: unsupported file type ({shown})", hint=f"supported: {supported}")
    return TYPES[suffix]


DEFAULT_MAX_BYTES = 20 * 1024 * 1024


class _Expansion:
    """What parsing unpacks, counted as it goes: a small compressed file cannot become a huge one."""

    def __init__(self, filename: str, limit: int) -> None:
        self.filename = filename
        self.limit = limit
        self.total = 0

    def add(self, size: int, what: str) -> None:
        self.total += size
        if self.total > self.limit:
            raise InvalidInputError(
                f"{self.filename}: {what} is over the {self.limit / 1048576:g} MB limit once unpacked "
                "(the limit counts what the file expands to, not its compressed size); parsing stopped",
                hint="split it, or raise ASSISTANT_MAX_DOCUMENT_MB",
            )


def parse(filename: str, data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> ParsedDocument:
    """The file's text blocks; raises ``InvalidInputError`` for anything that cannot be read, or that unpacks
    (zip parts of a .docx, text of a PDF) to more than ``max_bytes``."""
    kind = document_type(filename)
    if not data:
        raise InvalidInputError(f"{filename}: the file is empty")
    expansion = _Expansion(filename, max_bytes)
    expansion.add(len(data) if kind not in ("docx", "pdf") else 0, "the file")
    parsed = _PARSERS[kind](filename, data, expansion)
    if not any(block.text.strip() for block in parsed.blocks):
        if kind == "pdf":
            raise InvalidInputError(
                f"{filename}: the PDF has no text layer (scanned pages?)",
                hint="text recognition (OCR) is not supported; export the PDF with its text",
            )
        raise InvalidInputError(f"{filename}: the file contains no text")
    return parsed


def _paragraphs(text: str, page: int | None = None) -> list[Block]:
    blocks = []
    for part in text.replace("\r\n", "\n").replace("\r", "\n").split("\n\n"):
        cleaned = "\n".join(line.rstrip() for line in part.strip("\n").splitlines()).strip()
        if cleaned:
            blocks.append(Block(cleaned, page=page))
    return blocks


def _decode(filename: str, data: bytes) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise InvalidInputError(f"{filename}: the UTF-16 text is damaged") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        if b"\x00" in data:
            raise InvalidInputError(f"{filename}: not a text file (it holds binary data)") from None
        return data.decode("cp1252", errors="replace")


def _parse_text(filename: str, data: bytes, _expansion: _Expansion) -> ParsedDocument:
    return ParsedDocument("txt", _paragraphs(_decode(filename, data)))


def _parse_markdown(filename: str, data: bytes, _expansion: _Expansion) -> ParsedDocument:
    from markdown_it import MarkdownIt

    text = _decode(filename, data)
    lines = text.splitlines()
    blocks: list[Block] = []
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    for index, token in enumerate(tokens):
        if token.level != 0 or token.nesting == -1 or token.map is None:
            continue
        if token.type == "heading_open":
            blocks.append(Block(tokens[index + 1].content.strip(), heading_level=int(token.tag[1:])))
        elif token.type != "hr":
            # Lists, tables, quotes and code keep their markup: the model reads Markdown well.
            source = "\n".join(lines[token.map[0] : token.map[1]]).strip()
            if source:
                blocks.append(Block(source))
    return ParsedDocument("md", blocks)


_HTML_BLOCKS = ("h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "pre", "blockquote", "tr", "dt", "dd", "figcaption")


def _parse_html(filename: str, data: bytes, _expansion: _Expansion) -> ParsedDocument:
    from bs4 import BeautifulSoup, Tag

    try:
        soup = BeautifulSoup(data, "lxml")
    except Exception as exc:  # lxml rejects only truly broken input
        raise InvalidInputError(f"{filename}: the HTML cannot be read ({exc})") from exc
    for hidden in soup(["script", "style", "noscript", "template", "head", "svg"]):
        hidden.decompose()
    root = soup.body or soup
    blocks: list[Block] = []
    for element in root.find_all(_HTML_BLOCKS):
        if not isinstance(element, Tag) or element.find_parent(_HTML_BLOCKS) is not None:
            continue  # nested in a block already taken whole
        if element.name == "tr":
            cells = [c.get_text(" ", strip=True) for c in element.find_all(["td", "th"])]
            text = " | ".join(c for c in cells if c)
        else:
            text = element.get_text("\n" if element.name == "pre" else " ", strip=element.name != "pre")
        text = text.strip()
        if not text:
            continue
        level = int(element.name[1]) if element.name in ("h1", "h2", "h3", "h4", "h5", "h6") else 0
        blocks.append(Block(("- " + text) if element.name == "li" else text, heading_level=level))
    if not blocks:  # text outside any block element (a bare <div> page)
        blocks = _paragraphs(root.get_text("\n\n", strip=True))
    return ParsedDocument("html", blocks)


def _parse_pdf(filename: str, data: bytes, expansion: _Expansion) -> ParsedDocument:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError, PdfStreamError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # warnings on slightly malformed files are noise here
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise InvalidInputError(
                f"{filename}: the PDF is encrypted (password-protected)", hint="remove the password and add it again"
            )
        blocks: list[Block] = []
        for number, page in enumerate(reader.pages, start=1):
            text = page.extract_text() or ""
            expansion.add(len(text.encode("utf-8")), "its text")
            blocks.extend(_paragraphs(text, page=number))
        pages = len(reader.pages)
    except InvalidInputError:
        raise
    except (FileNotDecryptedError, DependencyError) as exc:
        raise InvalidInputError(f"{filename}: the PDF is encrypted and cannot be read ({exc})") from exc
    except (PdfReadError, PdfStreamError) as exc:
        raise InvalidInputError(f"{filename}: the PDF is corrupt or unreadable ({exc})") from exc
    except Exception as exc:  # a broken file can trip pypdf anywhere; it is still the file's fault
        raise InvalidInputError(f"{filename}: the PDF is corrupt or unreadable ({type(exc).__name__})") from exc
    return ParsedDocument("pdf", blocks, pages)


def _parse_docx(filename: str, data: bytes, expansion: _Expansion) -> ParsedDocument:
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        # zipfile never unpacks more of a part than the size its header declares (it stops there and fails
        # the checksum), so the declared sizes bound what python-docx can expand: counted before it reads any.
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                expansion.add(info.file_size, "the Word file")
    except zipfile.BadZipFile as exc:
        raise InvalidInputError(f"{filename}: the Word file is corrupt or not a .docx ({exc})") from exc
    try:
        document = docx.Document(io.BytesIO(data))
        blocks: list[Block] = []
        for part in document.iter_inner_content():
            if isinstance(part, Paragraph):
                text = part.text.strip()
                if not text:
                    continue
                style = (part.style.name if part.style is not None else "") or ""
                level = 0
                if style == "Title":
                    level = 1
                elif style.startswith("Heading"):
                    digits = style.removeprefix("Heading").strip()
                    level = int(digits) if digits.isdigit() else 1
                blocks.append(Block(text, heading_level=level))
            elif isinstance(part, Table):
                for row in part.rows:
                    cells = [cell.text.strip() for cell in row.cells]
                    line = " | ".join(c for c in dict.fromkeys(cells) if c)  # merged cells repeat
                    if line:
                        blocks.append(Block(line))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise InvalidInputError(f"{filename}: the Word file is corrupt or not a .docx ({exc})") from exc
    except Exception as exc:  # as for PDFs: any failure inside the parser is a broken file
        raise InvalidInputError(f"{filename}: the Word file is corrupt ({type(exc).__name__})") from exc
    return ParsedDocument("docx", blocks)


_PARSERS = {
    "txt": _parse_text,
    "md": _parse_markdown,
    "html": _parse_html,
    "pdf": _parse_pdf,
    "docx": _parse_docx,
}
