import json
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assistant.cli.main import app
from assistant.embedded import manager
from memory.db.migrations import LATEST, MIGRATIONS

runner = CliRunner()


def test_status_of_stopped_services_as_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_DATA_DIR", str(tmp_path))
    result = runner.invoke(app, ["services", "status", "--json"])
    assert result.exit_code == 0, result.output
    assert [(s["name"], s["running"]) for s in json.loads(result.stdout)] == [("postgres", False), ("redis", False)]


def test_db_migrate_and_status_on_a_configured_database(
    empty_database_url: str, services: manager.Endpoints, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSISTANT_DATABASE_URL", empty_database_url)
    monkeypatch.setenv("ASSISTANT_REDIS_URL", services.redis_url)
    before = runner.invoke(app, ["db", "status", "--json"])
    assert json.loads(before.stdout)["pending"] == [m.version for m in MIGRATIONS]
    assert (
        "applied 0001_initial, 0002_message_details, 0003_short_term_and_context"
        in runner.invoke(app, ["db", "migrate"]).stdout
    )
    after = json.loads(runner.invoke(app, ["db", "status", "--json"]).stdout)
    assert after == {"version": LATEST, "latest": LATEST, "pending": []}


def test_errors_are_one_line_and_a_non_zero_exit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("ASSISTANT_DATA_DIR", str(blocker / "data"))
    result = runner.invoke(app, ["services", "up"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot create")


def test_serve_refuses_a_port_in_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_DATA_DIR", str(tmp_path))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(app, ["serve", "--port", str(port)])
    assert result.exit_code == 1
    assert f"port {port}" in result.output and "already in use" in result.output


def test_every_command_has_an_example_in_its_help() -> None:
    for command in (
        ["services", "up"],
        ["services", "down"],
        ["services", "status"],
        ["db", "migrate"],
        ["db", "status"],
        ["serve"],
    ):
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0 and "Example:" in result.output, command


@pytest.mark.usefixtures("store_env")
def test_chat_one_shot_prints_the_reply_and_its_context_as_json() -> None:
    first = runner.invoke(app, ["chat", "--user", "ann", "--thread", "trip", "We leave on May 3rd.", "--json"])
    assert first.exit_code == 0, first.output
    data = json.loads(first.stdout)
    assert set(data) == {"reply", "message_id", "thread_id", "cut_off", "status", "incomplete", "context"}
    assert (data["status"], data["incomplete"]) == ("complete", None)
    assert data["cut_off"] is False
    assert data["reply"] == "Fake reply to: We leave on May 3rd."
    second = runner.invoke(
        app, ["chat", "-u", "ann", "-t", "trip", "When do we leave?", "--json", "--max-input-tokens", "2048"]
    )
    again = json.loads(second.stdout)
    assert again["thread_id"] == data["thread_id"]
    assert again["context"]["window"] == 2048
    turns = [i["text"] for i in again["context"]["tiers"][2]["items"] if i["kind"] == "turn"]
    assert turns == ["We leave on May 3rd.", "Fake reply to: We leave on May 3rd."]


@pytest.mark.usefixtures("store_env")
def test_chat_rejects_an_empty_message_without_storing_it(database_url: str) -> None:
    result = runner.invoke(app, ["chat", "--user", "ann", "  ", "--json"])
    assert result.exit_code == 1 and "the message is empty" in result.output
    import psycopg

    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM messages").fetchone() == (0,)


@pytest.mark.slow
@pytest.mark.usefixtures("store_env")
def test_chat_answers_with_the_default_local_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_MODEL", "local")
    monkeypatch.setenv("ASSISTANT_ANSWER_TOKENS", "16")
    result = runner.invoke(app, ["chat", "--user", "ann", "Say hello.", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["reply"].strip()
    assert data["context"]["model"] == "openai/smollm2-135m-instruct"
