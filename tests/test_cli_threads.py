"""`assistant threads ...` and `assistant context show` on conversations held with the fake model."""

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from assistant.cli.main import app

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("store_env")


def _ok(args: list[str], **kwargs: str) -> str:
    result = runner.invoke(app, args, **kwargs)  # type: ignore[arg-type]
    assert result.exit_code == 0, result.output
    return result.stdout


def _json(args: list[str]) -> Any:
    return json.loads(_ok([*args, "--json"]))


def _chat(text: str, thread: str) -> dict[str, str]:
    reply = _json(["chat", text, "--user", "ann", "--thread", thread])
    assert isinstance(reply, dict)
    return reply


def test_threads_list_show_export_and_rm(tmp_path: Path) -> None:
    first = _chat("My sister Ingrid lives in Tromsø.", "family")
    _chat("I bought a red bike.", "bikes")
    listed = _json(["threads", "list", "--user", "ann"])
    assert isinstance(listed, list) and [(t["name"], t["messages"]) for t in listed] == [("bikes", 2), ("family", 2)]
    family = str(first["thread_id"])
    shown = _json(["threads", "show", family[:8], "--user", "ann"])
    assert isinstance(shown, dict) and shown["messages"][0]["content"] == "My sister Ingrid lives in Tromsø."
    assert "Ingrid" in _ok(["threads", "show", family[:8], "--user", "ann"])
    transcript = tmp_path / "family.md"
    _ok(["threads", "export", family[:8], str(transcript), "--markdown", "--user", "ann"])
    assert "My sister Ingrid lives in Tromsø." in transcript.read_text()
    lines = [json.loads(x) for x in _ok(["threads", "export", family, "--user", "ann"]).splitlines()]
    assert [x["type"] for x in lines] == ["thread", "message", "message"]
    kept = runner.invoke(app, ["threads", "rm", family[:8], "--user", "ann"], input="n\n")
    assert kept.exit_code == 0 and "nothing was deleted" in kept.stdout
    gone = _json(["threads", "rm", family[:8], "--user", "ann", "--yes"])
    assert isinstance(gone, dict) and gone["messages"] == 2
    assert [t["name"] for t in _json(["threads", "list", "--user", "ann"])] == ["bikes"]
    memories = _json(["memory", "list", "--history", "-n", "100", "--user", "ann"])
    assert isinstance(memories, list) and memories and not any(m["thread_id"] == family for m in memories)
    missing = runner.invoke(app, ["threads", "show", family[:8], "--user", "ann"])
    assert missing.exit_code == 1 and "no thread" in missing.output


def test_context_show_renders_tiers_and_items() -> None:
    _json(["memory", "remember", "Always answer in metric units", "--user", "ann"])
    reply = _chat("How tall is the Eiffel tower?", "facts")
    report = _json(["context", "show", str(reply["message_id"]), "--user", "ann"])
    assert isinstance(report, dict) and {t["name"] for t in report["tiers"]} >= {"system", "short_term", "long_term"}
    table = _ok(["context", "show", "--last", "--user", "ann"])
    assert "budget" in table and "system" in table and "metric units" in table
    assert _json(["context", "show", "--last", "--thread", str(reply["thread_id"])[:8], "--user", "ann"]) == report
    user_message = _json(["threads", "show", str(reply["thread_id"]), "--user", "ann"])["messages"][0]["id"]
    no_report = runner.invoke(app, ["context", "show", user_message, "--user", "ann"])
    assert no_report.exit_code == 1 and "no context report" in no_report.output
    both = runner.invoke(app, ["context", "show", "--user", "ann"])
    assert both.exit_code == 1 and "a message id or --last" in both.output


def test_bracketed_text_is_printed_as_it_is_not_as_markup() -> None:
    said = _chat("Call me [bold]Sam[/bold], not [private]", "names")
    shown = _ok(["threads", "show", str(said["thread_id"])[:8], "--user", "ann"])
    assert "[bold]Sam[/bold]" in shown and "[private]" in shown
    assert "[bold]Sam[/bold]" in _ok(["memory", "remember", "I am [bold]Sam[/bold]", "--user", "ann"])
    assert "[/bold]" in _ok(["memory", "list", "--user", "ann"])
