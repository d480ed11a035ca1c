"""Documents: each format parses into headings and paragraphs, chunks are bounded and overlap, bad files fail clearly.

The fixture builders here (PDF written by hand, DOCX through python-docx) are shared by the other document tests.
"""

from __future__ import annotations

import io
import itertools

import docx
import pytest
from pypdf import PdfReader, PdfWriter

from memory.documents.chunking import chunk_blocks
from memory.documents.parsing import Block, parse
from memory.errors import InvalidInputError


# -- fixture files ------------------------------------------------------------------------------
def _pdf_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def pdf_bytes(pages: list[list[str]]) -> bytes:
    """A minimal valid PDF with a text layer: each page's lines in Helvetica (no pages' text: blank pages)."""
    objects: list[bytes] = []
    page_ids = [4 + 2 * i for i in range(len(pages))]
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    kids = " ".join(f"{p} 0 R" for p in page_ids)
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for index, lines in enumerate(pages):
        content_id = page_ids[index] + 1
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >>"
            f" /Contents {content_id} 0 R >>".encode()
        )
        ops = ["BT", "/F1 12 Tf", "14 TL", "72 720 Td"]
        for line in lines:
            ops.append(f"({_pdf_string(line)}) Tj T*")
        ops.append("ET")
        stream = "\n".join(ops if lines else []).encode("latin-1")
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def encrypted_pdf_bytes() -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_bytes([["A secret page."]]))))
    writer.encrypt("secret", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx_bytes() -> bytes:
    document = docx.Document()
    document.add_heading("Travel policy", level=1)
    document.add_paragraph("Employees book trains for trips under four hours.")
    document.add_heading("Expenses", level=2)
    document.add_paragraph("Meals are refunded up to 40 euros a day.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "City", "Hotel limit"
    table.cell(1, 0).text, table.cell(1, 1).text = "Paris", "180 euros"
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def word_count(text: str) -> int:
    """A stand-in tokenizer for chunking tests: one token per word."""
    return len(text.split())


# -- formats ------------------------------------------------------------------------------------
def test_plain_text_splits_paragraphs() -> None:
    parsed = parse("notes.txt", b"First paragraph\nstill first.\n\nSecond one.\r\n\r\nThird.")
    assert parsed.type == "txt"
    assert [b.text for b in parsed.blocks] == ["First paragraph\nstill first.", "Second one.", "Third."]


def test_text_in_utf16_or_a_legacy_encoding_is_read() -> None:
    assert parse("utf16.txt", "Grüße aus Köln".encode("utf-16")).blocks[0].text == "Grüße aus Köln"
    assert parse("legacy.txt", "Café crème".encode("cp1252")).blocks[0].text == "Café crème"


def test_markdown_keeps_headings_lists_and_code() -> None:
    text = "# Guide\n\nIntro text.\n\n## Setup\n\n- one\n- two\n\n```\n# not a heading\n```\n"
    parsed = parse("guide.md", text.encode())
    assert [(b.heading_level, b.text) for b in parsed.blocks] == [
        (1, "Guide"),
        (0, "Intro text."),
        (2, "Setup"),
        (0, "- one\n- two"),
        (0, "```\n# not a heading\n```"),
    ]


def test_html_uses_the_document_structure_and_drops_scripts() -> None:
    html = b"""<html><head><title>T</title><style>p{}</style></head><body>
        <h1>Menu</h1><p>Soup of the <b>day</b>.</p><script>alert('x')</script>
        <ul><li><p>Bread</p></li><li>Cheese</li></ul>
        <table><tr><th>Dish</th><th>Price</th></tr><tr><td>Soup</td><td>5</td></tr></table></body></html>"""
    parsed = parse("menu.html", html)
    assert [(b.heading_level, b.text) for b in parsed.blocks] == [
        (1, "Menu"),
        (0, "Soup of the day ."),
        (0, "- Bread"),
        (0, "- Cheese"),
        (0, "Dish | Price"),
        (0, "Soup | 5"),
    ]


def test_pdf_text_comes_with_page_numbers() -> None:
    parsed = parse("report.pdf", pdf_bytes([["Page one says hello."], ["Page two says goodbye."]]))
    assert parsed.type == "pdf" and parsed.pages == 2
    assert [(b.page, b.text) for b in parsed.blocks] == [(1, "Page one says hello."), (2, "Page two says goodbye.")]


def test_docx_headings_paragraphs_and_tables() -> None:
    parsed = parse("policy.docx", docx_bytes())
    assert [(b.heading_level, b.text) for b in parsed.blocks] == [
        (1, "Travel policy"),
        (0, "Employees book trains for trips under four hours."),
        (2, "Expenses"),
        (0, "Meals are refunded up to 40 euros a day."),
        (0, "City | Hotel limit"),
        (0, "Paris | 180 euros"),
    ]


# -- bad input ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("photo.png", b"\x89PNG....", "unsupported file type (.png)"),
        ("Makefile", b"all:", "unsupported file type"),
        ("empty.txt", b"", "the file is empty"),
        ("blank.md", b"\n\n   \n", "contains no text"),
        ("broken.pdf", b"%PDF-1.4\nthis is not really a pdf", "corrupt or unreadable"),
        ("scan.pdf", pdf_bytes([[], []]), "no text layer"),
        ("locked.pdf", encrypted_pdf_bytes(), "encrypted"),
        ("fake.docx", b"PK\x03\x04 not a zip at all", "corrupt or not a .docx"),
        ("binary.txt", b"\x00\x01\x81binary\x00", "not a text file"),
    ],
)
def test_bad_files_are_rejected_with_the_name_and_the_reason(name: str, data: bytes, reason: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse(name, data)
    assert caught.value.message.startswith(f"{name}: ")
    assert reason in caught.value.message


# -- chunking -----------------------------------------------------------------------------------
def test_chunks_stay_within_the_bound_and_overlap_when_full() -> None:
    sentences = [f"Sentence {i} tells about topic {i} in words." for i in range(60)]
    blocks = [Block(" ".join(sentences[i : i + 3])) for i in range(0, 60, 3)]
    chunks = chunk_blocks(blocks, count=word_count, max_tokens=40, overlap_tokens=10)
    assert len(chunks) > 5
    assert all(word_count(c.text) <= 40 and c.tokens <= 40 for c in chunks)
    for previous, current in itertools.pairwise(chunks):
        opening = current.text.split("\n\n")[0]
        assert previous.text.endswith(opening)  # the next chunk opens with the end of the full one
        assert opening.startswith("Sentence")  # cut at a sentence
    joined = " ".join(c.text for c in chunks)
    assert all(s in joined for s in sentences)  # nothing is lost


def test_a_paragraph_longer_than_a_chunk_is_cut_at_sentences_then_words() -> None:
    long_sentence = " ".join(f"word{i}" for i in range(130))
    chunks = chunk_blocks([Block(f"Short start. {long_sentence}.")], count=word_count, max_tokens=50, overlap_tokens=5)
    assert all(c.tokens <= 50 for c in chunks)
    assert "word129." in chunks[-1].text
    assert "word0" in " ".join(c.text for c in chunks)


def test_headings_and_pages_start_new_chunks_that_name_their_place() -> None:
    blocks = [
        Block("Guide", heading_level=1),
        Block("Intro.", page=1),
        Block("Install", heading_level=2),
        Block("Run the installer.", page=1),
        Block("Then reboot.", page=2),
        Block("Usage", heading_level=1),
        Block("Type a command.", page=2),
    ]
    chunks = chunk_blocks(blocks, count=word_count, max_tokens=100, overlap_tokens=10)
    assert [(c.section, c.page, c.text) for c in chunks] == [
        ("Guide", 1, "Intro."),
        ("Guide › Install", 1, "Run the installer."),
        ("Guide › Install", 2, "Then reboot."),
        ("Usage", 2, "Type a command."),
    ]
    assert chunks[1].passage == "Guide › Install\nRun the installer."
    assert len({c.content_hash for c in chunks}) == 4


def test_chunks_are_counted_with_the_given_tokenizer() -> None:
    from assistant.providers.tokens import TokenCounter

    count = TokenCounter("fake").text
    text = "\n\n".join(f"Paragraph {i}: the quick brown fox jumps over the lazy dog again." for i in range(40))
    chunks = chunk_blocks(parse("fox.txt", text.encode()).blocks, count=count, max_tokens=64, overlap_tokens=16)
    assert len(chunks) > 3 and all(count(c.text) == c.tokens <= 64 for c in chunks)
