"""`assistant bench load` at a tiny size: the report's shape, zero errors, and nothing left behind."""

import json
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from assistant.bench.load import LoadPlan, run_load_bench
from assistant.cli.main import app
from assistant.settings import Settings

runner = CliRunner()
FIGURES = {"p50", "p95", "p99", "mean"}


async def test_a_few_users_chat_at_once(settings: Settings, database_url: str) -> None:
    plan = LoadPlan(users=3, turns=2, think_s=0.05, token_delay_s=0.002, reply_tokens=5)
    result = await run_load_bench(settings, plan, find_max=True, max_users=4, ramp_turns=1, target_ms=60_000)

    assert result["benchmark"] == "load" and result["errors"] == 0 and result["error_samples"] == []
    assert (result["users"], result["turns_per_user"], result["turns"]) == (3, 2, 6)
    assert result["turns_per_s"] > 0 and result["reply_tokens"] == 5 and result["token_delay_ms"] == 2
    assert set(result["added_ms"]) == set(result["first_token_added_ms"]) == FIGURES
    assert result["added_ms"]["p95"] >= result["added_ms"]["p50"] > 0
    assert set(result["context_stages_ms"]) == {"load_short_term", "retrieve", "assemble"}
    assert result["rss_mb"]["peak"] > 0 and result["redis_used_mb"] > 0 and result["machine"]
    assert result["max_users_within_target"] == 4
    assert [level["users"] for level in result["ramp"]] == [4] and result["ramp"][0]["errors"] == 0
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM users WHERE name LIKE 'bench-load-%'").fetchone() == (0,)


async def test_the_ramp_stops_at_the_first_level_over_target(settings: Settings) -> None:
    plan = LoadPlan(users=1, turns=1, think_s=0.0, token_delay_s=0.0, reply_tokens=3)
    result = await run_load_bench(settings, plan, find_max=True, max_users=2, ramp_turns=1, target_ms=0.001)
    assert result["max_users_within_target"] is None and len(result["ramp"]) == 1


@pytest.mark.usefixtures("store_env")
def test_load_command_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "results" / "load.json"
    command = ["bench", "load", "-u", "2", "-n", "1", "--think", "0", "--token-delay-ms", "1", "--reply-tokens", "3"]
    result = runner.invoke(app, [*command, "--json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed == json.loads(out.read_text()) and printed["errors"] == 0
    table = runner.invoke(app, command)
    assert table.exit_code == 0, table.output
    assert "turns/s" in table.stdout
