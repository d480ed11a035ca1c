"""`assistant backup` / `assistant restore` with the embedded Postgres' own pg_dump and pg_restore."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assistant.cli.main import app

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("store_env")


def _texts(user: str) -> list[str]:
    result = runner.invoke(app, ["memory", "list", "--user", user, "--json"])
    assert result.exit_code == 0, result.output
    return [m["text"] for m in json.loads(result.stdout)]


def test_backup_then_restore_brings_everything_back(tmp_path: Path) -> None:
    assert runner.invoke(app, ["memory", "remember", "My locker code is 4411", "--user", "ann"]).exit_code == 0
    assert runner.invoke(app, ["chat", "I bought a red bike", "--user", "ann"]).exit_code == 0
    dump = tmp_path / "all.dump"
    made = runner.invoke(app, ["backup", str(dump)])
    assert made.exit_code == 0 and "backed up" in made.output and dump.stat().st_size > 0
    before = _texts("ann")
    assert runner.invoke(app, ["users", "rm", "ann", "--yes"]).exit_code == 0
    kept = runner.invoke(app, ["restore", str(dump)], input="n\n")
    assert kept.exit_code == 0 and "nothing was changed" in kept.output
    restored = runner.invoke(app, ["restore", str(dump), "--yes"])
    assert restored.exit_code == 0, restored.output
    assert _texts("ann") == before and "My locker code is 4411" in before


def test_restore_refuses_a_file_that_is_not_a_backup(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.txt"
    bogus.write_text("hello")
    result = runner.invoke(app, ["restore", str(bogus), "--yes"])
    assert result.exit_code == 1 and "not a backup" in result.output
    missing = runner.invoke(app, ["restore", str(tmp_path / "none.dump"), "--yes"])
    assert missing.exit_code == 1 and "no backup file" in missing.output
