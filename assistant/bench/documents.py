"""`assistant bench docs`: document ingestion throughput (pages/s, chunks/s) and search latency at scale.

Documents are transcripts of the LoCoMo conversations (real dialogue, not random
text), written as PDFs of ~48 lines a page (or Markdown with a heading per
session), each copy numbered so its chunks are new text that must be embedded.
They are added through the document service exactly as a user's files are, until
the user holds the asked number of chunks; then LoCoMo's questions are searched.
"""

from __future__ import annotations

import asyncio
import io
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from assistant.bench.locomo.dataset import Sample, dev_file, load_locomo
from assistant.bench.stats import machine, summary
from assistant.providers.tokens import TokenCounter
from assistant.runtime import Runtime
from assistant.settings import Settings
from memory.documents.service import DocumentService
from memory.embeddings import Embedder, Vectors
from memory.errors import InvalidInputError

DEFAULT_LOCOMO = dev_file()
LINES_PER_PAGE = 48
LINE_WIDTH = 95
Format = Literal["pdf", "md"]
Progress = Callable[[str, int, int], None]


def pdf_from_pages(pages: Sequence[Sequence[str]]) -> bytes:
    """A plain PDF with a text layer: each page's lines in Helvetica (Latin-1; others become '?')."""
    objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    page_ids = [4 + 2 * i for i in range(len(pages))]
    kids = " ".join(f"{p} 0 R" for p in page_ids)
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    for index, lines in enumerate(pages):
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >>"
            b" /Contents %d 0 R >>" % (page_ids[index] + 1)
        )
        ops = [b"BT", b"/F1 10 Tf", b"14 TL", b"50 750 Td"]
        for line in lines:
            escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(b"(" + escaped.encode("cp1252", errors="replace") + b") Tj T*")
        ops.append(b"ET")
        stream = b"\n".join(ops)
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.write(b"".join(b"%010d 00000 n \n" % offset for offset in offsets))
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


@dataclass(frozen=True)
class BenchDocument:
    name: str
    data: bytes
    pages: int


def _sessions(sample: Sample, copy: int) -> Iterator[tuple[str, list[str]]]:
    conversation = sample.conversation
    for session in conversation.sessions:
        title = f"Session {session.index} ({session.date_text or 'undated'})"
        lines = [
            f"[{copy}.{session.index}.{n}] {turn.speaker}: {turn.text}"
            for n, turn in enumerate(session.turns, start=1)
            if turn.text.strip()
        ]
        if lines:
            yield title, lines


def make_document(sample: Sample, copy: int, kind: Format) -> BenchDocument:
    """One conversation as a document; ``copy`` numbers every line, so each copy's chunks are new text."""
    conversation = sample.conversation
    title = f"Conversation {conversation.sample_id} between {conversation.speaker_a} and {conversation.speaker_b}"
    name = f"{conversation.sample_id or 'conversation'}-copy{copy}.{kind}"
    if kind == "md":
        parts = [f"# {title} (copy {copy})"]
        for heading, lines in _sessions(sample, copy):
            parts.append(f"## {heading}")
            parts.extend(lines)
        return BenchDocument(name, "\n\n".join(parts).encode(), 0)
    flowed: list[str] = [f"{title} (copy {copy})", ""]
    for heading, lines in _sessions(sample, copy):
        flowed.extend([heading, ""])
        for line in lines:
            flowed.extend(textwrap.wrap(line, LINE_WIDTH) or [""])
            flowed.append("")  # a blank line ends the paragraph
    pages = [flowed[i : i + LINES_PER_PAGE] for i in range(0, len(flowed), LINES_PER_PAGE)]
    return BenchDocument(name, pdf_from_pages(pages), len(pages))


class TimedEmbedder:
    """Counts the time spent embedding passages, to tell embedding from parsing and storing."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.passage_s = 0.0

    async def queries(self, texts: Sequence[str]) -> Vectors:
        return await self.inner.queries(texts)

    async def passages(self, texts: Sequence[str]) -> Vectors:
        started = time.perf_counter()
        try:
            return await self.inner.passages(texts)
        finally:
            self.passage_s += time.perf_counter() - started


async def run_documents_bench(
    settings: Settings,
    *,
    chunks: int = 10_000,
    queries: int = 200,
    kind: Format = "pdf",
    locomo: Path = DEFAULT_LOCOMO,
    keep: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    try:
        loaded = await asyncio.to_thread(load_locomo, locomo)
    except OSError as exc:
        message = f"{locomo}: cannot read the LoCoMo file ({exc.strerror})"
        raise InvalidInputError(message, hint="give one with --locomo PATH") from exc
    samples = [s for s in loaded if s.conversation.sessions]
    if not samples:
        raise InvalidInputError(f"{locomo}: no conversations in it")
    questions = list(dict.fromkeys(q.question for s in samples for q in s.questions if q.question.strip()))
    runtime = await Runtime.start(settings, chat=False)
    embedder = TimedEmbedder(runtime.documents.embedder)
    service = DocumentService(
        runtime.pool,
        embedder,
        count_tokens=TokenCounter(runtime.model.name).text,
        max_bytes=runtime.documents.max_bytes,
        chunk_tokens=runtime.documents.chunk_tokens,
        overlap_tokens=runtime.documents.overlap_tokens,
    )
    user = await runtime.conversations.ensure_user(f"bench-docs-{uuid.uuid4().hex[:8]}")
    try:
        await embedder.inner.passages(["warm up"])  # loads the model outside the timings
        await embedder.inner.queries(["warm up"])
        stored = pages = documents = 0
        bytes_total = 0
        build_s = 0.0
        started = time.perf_counter()
        copy = 0
        while stored < chunks:
            for sample in samples:
                clock = time.perf_counter()
                document = make_document(sample, copy, kind)
                build_s += time.perf_counter() - clock
                info = await service.add(user.id, document.name, document.data)
                stored += info.chunk_count
                pages += info.pages or 0
                documents += 1
                bytes_total += len(document.data)
                if progress:
                    progress("ingesting", min(stored, chunks), chunks)
                if stored >= chunks:
                    break
            copy += 1
        ingest_s = time.perf_counter() - started - build_s

        asked = questions[: min(queries, len(questions))]
        cold: list[float] = []
        warm: list[float] = []
        found = 0
        for number, question in enumerate(asked, start=1):
            clock = time.perf_counter()
            hits = await service.search(user.id, question, limit=8)
            cold.append((time.perf_counter() - clock) * 1000)
            found += bool(hits)
            if progress:
                progress("searching", number, len(asked) * 2)
        for number, question in enumerate(asked, start=1):
            clock = time.perf_counter()
            await service.search(user.id, question, limit=8)  # the question's vector is cached now
            warm.append((time.perf_counter() - clock) * 1000)
            if progress:
                progress("searching", len(asked) + number, len(asked) * 2)
        result: dict[str, Any] = {
            "benchmark": "documents",
            "machine": machine(),
            "embedder": embedder.name,
            "format": kind,
            "chunk_tokens": service.chunk_tokens,
            "overlap_tokens": service.overlap_tokens,
            "documents": documents,
            "pages": pages,
            "chunks": stored,
            "megabytes": round(bytes_total / 1048576, 2),
            "ingest_s": round(ingest_s, 2),
            "chunks_per_s": round(stored / ingest_s, 1),
            "pages_per_s": round(pages / ingest_s, 1) if pages else None,
            "embedding_share_pct": round(embedder.passage_s / ingest_s * 100, 1),
            # What an upload costs its request when a worker embeds the chunks (documents.embed): the rest.
            "upload_without_embedding_ms": round((ingest_s - embedder.passage_s) / documents * 1000, 1),
            "queries": len(asked),
            "queries_with_hits": found,
            "search_ms": summary(cold),
            "search_cached_vector_ms": summary(warm),
        }
        return result
    finally:
        if not keep:
            await runtime.conversations.delete_user(user.id)
        await runtime.close()
