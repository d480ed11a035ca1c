"""`assistant docs add | list | search | rm` through typer's runner, on this test's stores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from assistant.cli.main import app
from tests.test_documents import docx_bytes, pdf_bytes

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("store_env")


def _json(args: list[str], *, code: int = 0, **kwargs: Any) -> Any:
    result = runner.invoke(app, [*args, "--json"], **kwargs)
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


def test_add_list_search_and_remove_documents(tmp_path: Path) -> None:
    (tmp_path / "handbook.md").write_text("# Handbook\n\n## Vacation\n\nEveryone gets 27 vacation days a year.\n")
    (tmp_path / "policy.docx").write_bytes(docx_bytes())
    (tmp_path / "report.pdf").write_bytes(pdf_bytes([["Intro."], ["Revenue grew by twelve percent."]]))
    added = _json(
        ["docs", "add", *(str(tmp_path / n) for n in ("handbook.md", "policy.docx", "report.pdf")), "-u", "ann"]
    )
    assert [a["document"]["name"] for a in added] == ["handbook.md", "policy.docx", "report.pdf"]
    assert added[2]["document"]["pages"] == 2 and added[0]["embedded"] == 1

    again = _json(["docs", "add", str(tmp_path / "handbook.md"), "-u", "ann"])
    assert again[0]["embedded"] == 0 and again[0]["document"]["id"] == added[0]["document"]["id"]

    listed = _json(["docs", "list", "-u", "ann"])
    assert {d["name"] for d in listed} == {"handbook.md", "policy.docx", "report.pdf"}
    assert _json(["docs", "list", "-u", "ann", "-n", "1"]).__len__() == 1

    hits = _json(["docs", "search", "revenue growth percent", "-u", "ann", "-n", "1"])
    assert hits[0]["source"] == "report.pdf, page 2"

    table = runner.invoke(app, ["docs", "list", "-u", "ann"])
    assert table.exit_code == 0 and "handbook.md" in table.output and "report.pdf" in table.output

    kept = runner.invoke(app, ["docs", "rm", "handbook.md", "-u", "ann"], input="n\n")
    assert kept.exit_code == 0 and "nothing was removed" in kept.output
    removed = _json(["docs", "rm", added[0]["document"]["id"][:8], "-u", "ann", "--yes"])
    assert removed["removed"]["name"] == "handbook.md"
    assert {d["name"] for d in _json(["docs", "list", "-u", "ann"])} == {"policy.docx", "report.pdf"}


def test_bad_files_are_reported_one_by_one_and_the_good_ones_are_added(tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text("Plain notes about the garden.")
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "photo.png").write_bytes(b"\x89PNG")
    results = _json(
        [
            "docs",
            "add",
            *(str(tmp_path / n) for n in ("good.txt", "empty.txt", "photo.png", "missing.md")),
            "-u",
            "ann",
        ],
        code=1,
    )
    assert "document" in results[0]
    assert results[1]["error"] == "empty.txt: the file is empty"
    assert results[2]["error"].startswith("photo.png: unsupported file type (.png)")
    assert results[3]["error"].endswith("missing.md: no such file")
    assert [d["name"] for d in _json(["docs", "list", "-u", "ann"])] == ["good.txt"]

    human = runner.invoke(app, ["docs", "add", str(tmp_path / "empty.txt"), "-u", "ann"])
    assert human.exit_code == 1 and "empty.txt: the file is empty" in human.output


def test_another_user_cannot_remove_a_document() -> None:
    result = runner.invoke(app, ["docs", "rm", "anything", "-u", "nobody", "--yes"])
    assert result.exit_code == 1 and "error" in result.output


def test_forget_all_with_documents_removes_them(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("The spare key is in the blue pot.")
    _json(["docs", "add", str(tmp_path / "notes.txt"), "-u", "ann"])
    _json(["memory", "forget", "--all", "-u", "ann", "--yes"])
    assert len(_json(["docs", "list", "-u", "ann"])) == 1  # without --documents they stay
    result = _json(["memory", "forget", "--all", "--documents", "-u", "ann", "--yes"])
    assert result["documents"] == 1
    assert _json(["docs", "list", "-u", "ann"]) == []
    assert _json(["docs", "search", "spare key", "-u", "ann"]) == []


def test_a_chat_turn_answers_from_an_added_document(tmp_path: Path) -> None:
    (tmp_path / "handbook.md").write_text("# Handbook\n\n## Vacation\n\nEveryone gets 27 vacation days a year.\n")
    _json(["docs", "add", str(tmp_path / "handbook.md"), "-u", "ann"])
    turn = _json(["chat", "-u", "ann", "How many vacation days do I get?"])
    assert "Everyone gets 27 vacation days a year." in turn["reply"]  # the fake model lists what it was given
    documents = next(t for t in turn["context"]["tiers"] if t["name"] == "documents")
    assert documents["items"][0]["source"] == "handbook.md, “Handbook › Vacation”"


def test_a_document_for_one_named_conversation_is_used_only_there(tmp_path: Path) -> None:
    (tmp_path / "plan.txt").write_text("The trip to Lisbon starts on May 3rd.")
    added = _json(["docs", "add", str(tmp_path / "plan.txt"), "-u", "ann", "--thread", "trip"])
    assert added[0]["document"]["thread_id"] is not None
    assert len(_json(["docs", "list", "-u", "ann", "--thread", "trip"])) == 1
    in_trip = _json(["chat", "-u", "ann", "--thread", "trip", "When does the Lisbon trip start?"])
    elsewhere = _json(["chat", "-u", "ann", "--thread", "work", "When does the Lisbon trip start?"])

    def excerpts(turn: Any) -> list[str]:
        return [i["text"] for t in turn["context"]["tiers"] if t["name"] == "documents" for i in t["items"]]

    assert "May 3rd" in in_trip["reply"] and any("May 3rd" in text for text in excerpts(in_trip))
    assert excerpts(elsewhere) == []  # (the trip thread's reply may still come back as a memory)
    missing = runner.invoke(app, ["docs", "list", "-u", "ann", "--thread", "nope"])
    assert missing.exit_code == 1 and "no conversation named 'nope'" in missing.output
