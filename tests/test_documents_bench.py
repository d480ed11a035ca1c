"""`assistant bench docs` on a small scale: ingests LoCoMo transcripts as documents, then searches its questions."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from assistant.bench.documents import DEFAULT_LOCOMO, make_document
from assistant.bench.locomo.dataset import load_locomo
from assistant.cli.main import app
from memory.documents.parsing import parse

runner = CliRunner()


def test_bench_documents_parse_with_pages_and_sessions() -> None:
    sample = load_locomo(DEFAULT_LOCOMO)[0]
    pdf = make_document(sample, 3, "pdf")
    parsed = parse(pdf.name, pdf.data)
    assert parsed.pages == pdf.pages > 1 and "[3.1.1]" in parsed.blocks[0].text
    markdown = parse("x.md", make_document(sample, 0, "md").data)
    assert markdown.blocks[0].heading_level == 1 and markdown.blocks[1].text.startswith("Session 1")


@pytest.mark.usefixtures("store_env")
@pytest.mark.parametrize("kind", ["pdf", "md"])
def test_bench_docs_prints_throughput_and_latency(kind: str) -> None:
    result = runner.invoke(app, ["bench", "docs", "--chunks", "120", "--queries", "5", "--format", kind, "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["chunks"] >= 120 and figures["chunks_per_s"] > 0 and figures["queries"] == 5
    assert (figures["pages_per_s"] or 0) > 0 if kind == "pdf" else figures["pages_per_s"] is None
    assert figures["search_ms"]["p95"] >= figures["search_ms"]["p50"] > 0
    assert figures["queries_with_hits"] >= 1


@pytest.mark.usefixtures("store_env")
def test_bench_docs_table() -> None:
    result = runner.invoke(app, ["bench", "docs", "--chunks", "20", "--queries", "2"])
    assert result.exit_code == 0, result.output
    assert "chunks_per_s" in result.output and "search_ms p50 / p95 / p99" in result.output
