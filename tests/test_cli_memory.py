import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from assistant.cli.main import app

runner = CliRunner()


pytestmark = pytest.mark.usefixtures("store_env")


def _json(args: list[str], **kwargs: str) -> Any:
    result = runner.invoke(app, [*args, "--json"], **kwargs)  # type: ignore[arg-type]
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_remember_search_and_forget_by_query() -> None:
    added = _json(["memory", "remember", "My bike lock code is 9021", "--user", "ann"])
    assert isinstance(added, dict) and added["pinned"] is True
    _json(["memory", "remember", "I like green tea", "--user", "ann"])
    hits = _json(["memory", "search", "bike lock", "--user", "ann", "-n", "1"])
    assert isinstance(hits, list) and hits[0]["text"] == "My bike lock code is 9021"
    forgotten = _json(["memory", "forget", "--query", "bike lock code", "-n", "1", "--user", "ann", "--yes"])
    assert isinstance(forgotten, dict) and forgotten["forgotten"] == 1
    remaining = _json(["memory", "list", "--user", "ann"])
    assert isinstance(remaining, list) and [m["text"] for m in remaining] == ["I like green tea"]


def test_forget_shows_what_goes_and_asks_first() -> None:
    added = _json(["memory", "remember", "Secret plan B", "--user", "ann"])
    assert isinstance(added, dict)
    result = runner.invoke(app, ["memory", "forget", added["id"][:8], "--user", "ann"], input="n\n")
    assert result.exit_code == 0 and "Secret plan B" in result.output and "nothing was forgotten" in result.output
    assert len(_json(["memory", "list", "--user", "ann"])) == 1
    result = runner.invoke(app, ["memory", "forget", "--all", "--user", "ann"], input="y\n")
    assert result.exit_code == 0 and "Forgot 1 memory" in result.output
    assert _json(["memory", "list", "--user", "ann"]) == []


def test_memory_errors_are_one_line() -> None:
    _ok(["users", "add", "ann"])  # a refused `memory remember` creates no user, so make one
    for args, message in (
        (["memory", "forget", "--user", "ann"], "exactly one of"),
        (["memory", "search", "anything", "--user", "nobody"], "no user named 'nobody'"),
        (["memory", "remember", "   ", "--user", "ann"], "a memory needs some text"),
        (["memory", "list", "--as-of", "someday", "--user", "ann"], "not a date: 'someday'"),
        (["memory", "show", "zz", "--user", "ann"], "at least 4"),
        (["memory", "undo", "not-an-event", "--user", "ann"], "no memory event"),
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 1, args
        assert message in result.output and len(result.output.strip().splitlines()) == 1, result.output


def _ok(args: list[str], **kwargs: str) -> str:
    result = runner.invoke(app, args, **kwargs)  # type: ignore[arg-type]
    assert result.exit_code == 0, result.output
    return result.output


def test_edit_pin_history_show_as_of_and_undo() -> None:
    old = _json(["memory", "remember", "I live in Berlin", "--user", "ann"])
    assert isinstance(old, dict)
    new = _json(["memory", "edit", old["id"][:8], "I live in Lisbon", "--user", "ann"])
    assert isinstance(new, dict) and new["previous_id"] == old["id"]
    unpinned = _json(["memory", "pin", new["id"][:8], "--unpin", "--user", "ann"])
    assert isinstance(unpinned, dict) and unpinned["pinned"] is False
    detail = _json(["memory", "show", new["id"], "--user", "ann"])
    assert isinstance(detail, dict) and [v["text"] for v in detail["versions"]] == [
        "I live in Lisbon",
        "I live in Berlin",
    ]
    then = _json(["memory", "show", new["id"], "--user", "ann", "--as-of", old["valid_from"]])
    assert isinstance(then, dict) and then["memory"]["text"] == "I live in Berlin"
    assert [m["text"] for m in _json(["memory", "list", "--user", "ann", "--as-of", old["valid_from"]])] == [
        "I live in Berlin"
    ]
    found = _json(["memory", "search", "where do I live", "--user", "ann", "--as-of", old["valid_from"]])
    assert isinstance(found, list) and [m["text"] for m in found] == ["I live in Berlin"]
    events = _json(["memory", "history", new["id"][:8], "--user", "ann"])
    assert isinstance(events, list) and [e["action"] for e in events] == ["add", "add", "update", "unpin"]
    table = _ok(["memory", "history", new["id"][:8], "--user", "ann"])
    assert "update" in table and "Lisbon" in table
    update = next(e for e in events if e["action"] == "update")
    _ok(["memory", "undo", update["id"][:8], "--user", "ann"])
    assert [m["text"] for m in _json(["memory", "list", "--user", "ann"])] == ["I live in Berlin"]
    shown = _ok(["memory", "show", old["id"][:8], "--user", "ann"])
    assert "I live in Berlin" in shown and "came from" in shown


def test_export_forget_all_import_round_trip(tmp_path: Path) -> None:
    _json(["memory", "remember", "My locker code is 4411", "--user", "ann"])
    _json(["memory", "remember", "I like green tea", "--user", "ann"])
    first = tmp_path / "ann.jsonl"
    _ok(["memory", "export", str(first), "--user", "ann"])
    lines = [json.loads(line) for line in first.read_text().splitlines()]
    assert sorted(line["text"] for line in lines if line["type"] == "memory") == [
        "I like green tea",
        "My locker code is 4411",
    ]
    out = _ok(["memory", "forget", "--all", "--conversations", "--user", "ann", "--yes"])
    assert "Forgot 2 memories" in out
    report = _json(["memory", "import", str(first), "--user", "ann"])
    assert isinstance(report, dict) and report["memories"] == 2
    second = runner.invoke(app, ["memory", "export", "--user", "ann"])
    again = [json.loads(line) for line in second.stdout.splitlines()]
    assert [x for x in again if x["type"] == "memory"] == [x for x in lines if x["type"] == "memory"]
    # Into a new user (created on import), and a bad file changes nothing.
    assert _json(["memory", "import", str(first), "--user", "bob"])["memories"] == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type": "memory", "text": "fine"}\n{"type": "memory"}\n')
    result = runner.invoke(app, ["memory", "import", str(bad), "--user", "bob"])
    assert result.exit_code == 1 and "line 2: text" in result.output
    assert len(_json(["memory", "list", "--user", "bob"])) == 2
    missing = runner.invoke(app, ["memory", "import", str(tmp_path / "nope.jsonl"), "--user", "bob"])
    assert missing.exit_code == 1 and "cannot read" in missing.output


def test_forget_all_with_documents(tmp_path: Path) -> None:
    note = tmp_path / "note.md"
    note.write_text("# Bees\n\nIngrid keeps bees.\n")
    _json(["memory", "remember", "I like green tea", "--user", "ann"])
    added = runner.invoke(app, ["docs", "add", str(note), "--user", "ann"])
    assert added.exit_code == 0, added.output
    kept = runner.invoke(app, ["memory", "forget", "--all", "--documents", "--user", "ann"], input="n\n")
    assert "1 memories" in kept.output and "1 documents" in kept.output and "nothing was forgotten" in kept.output
    result = _json(["memory", "forget", "--all", "--documents", "--user", "ann", "--yes"])
    assert isinstance(result, dict) and (result["forgotten"], result["documents"]) == (1, 1)
    wrong = runner.invoke(app, ["memory", "forget", "--documents", "--query", "tea", "--user", "ann"])
    assert wrong.exit_code == 1 and "go with --all" in wrong.output
