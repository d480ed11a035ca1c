import json

import pytest
from typer.testing import CliRunner

from assistant.cli.main import app

runner = CliRunner()


@pytest.mark.usefixtures("store_env")
def test_status_shows_model_embedder_extraction_services_and_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    assert runner.invoke(app, ["memory", "remember", "I like tea", "--user", "ann"]).exit_code == 0
    result = runner.invoke(app, ["status", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["model"], report["model_is_local"], report["embedder"]) == ("fake", True, "hash")
    assert isinstance(report["extraction"]["on"], bool) and report["extraction"]["why"]
    assert {s["name"] for s in report["services"]} == {"postgres", "redis"}
    assert all(s["url"] for s in report["services"])
    assert report["counts"]["users"] == 1 and report["counts"]["memories"] == 1 and "api_tokens" in report["counts"]
    table = runner.invoke(app, ["status"])
    assert table.exit_code == 0 and "fake" in table.output and "fact extraction" in table.output
