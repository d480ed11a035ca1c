import json

import pytest
from typer.testing import CliRunner

from assistant.cli.main import app

runner = CliRunner()


pytestmark = pytest.mark.usefixtures("store_env")


def _json(args: list[str], **kwargs: str) -> object:
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
    assert len(_json(["memory", "list", "--user", "ann"])) == 1  # type: ignore[arg-type]
    result = runner.invoke(app, ["memory", "forget", "--all", "--user", "ann"], input="y\n")
    assert result.exit_code == 0 and "forgot 1 memories" in result.output
    assert _json(["memory", "list", "--user", "ann"]) == []


def test_memory_errors_are_one_line() -> None:
    for args, message in (
        (["memory", "forget", "--user", "ann"], "exactly one of"),
        (["memory", "search", "anything", "--user", "nobody"], "no user named 'nobody'"),
        (["memory", "remember", "   ", "--user", "ann"], "a memory needs some text"),
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 1, args
        assert message in result.output and len(result.output.strip().splitlines()) == 1, result.output
