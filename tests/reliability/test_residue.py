"""Forgetting reaches the files: after forgetting, no byte of the text is left in Postgres's data files or
WAL, Redis's append-only log or snapshot, or the logs; and every file the app creates is owner-only.

Each test has servers of its own, started by the CLI's own start path (the real embedded configuration),
and drives the app as a user would: chat turns (the fake model), `memory remember`, an uploaded document,
then `memory forget` and `users rm`.
"""

from __future__ import annotations

import json
import stat
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from typer.testing import CliRunner

from assistant.cli.main import app
from assistant.embedded import manager
from assistant.embedded.paths import ServicePaths
from assistant.embedded.postgres import EmbeddedPostgres
from assistant.settings import Settings

pytestmark = pytest.mark.slow
runner = CliRunner()


def _marker(what: str) -> str:
    return f"zq{what}{uuid.uuid4().hex[:12]}"  # lower case: the full-text index keeps it as one lexeme


@pytest.fixture
def data_dir(server_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The app's data directory with its own embedded servers, as the CLI configures them."""
    data = server_dir / "data"
    for name in ("ASSISTANT_DATABASE_URL", "ASSISTANT_REDIS_URL", "ASSISTANT_REDIS_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ASSISTANT_DATA_DIR", str(data))
    monkeypatch.setenv("ASSISTANT_MODEL", "fake")
    monkeypatch.setenv("ASSISTANT_EMBEDDER", "hash")
    yield data
    manager.stop(Settings(data_dir=data))


def _cli(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    parsed: dict[str, Any] | list[Any] = json.loads(result.stdout)
    return parsed if isinstance(parsed, dict) else {"items": parsed}


def _plant(tmp_path: Path, user: str, marker: str) -> str:
    """The marker through every way in: chat turns, a pinned memory, a document; returns the memory's id."""
    for turn in range(3):
        _cli("chat", f"Note {turn}: my locker code is {marker}, keep it safe.", "--user", user, "--thread", "t")
    memory = _cli("memory", "remember", f"The locker code is {marker}.", "--user", user)
    document = tmp_path / f"{user}-notes.md"
    document.write_text(f"# Notes\n\nThe spare key sits in box {marker}.\n" + "Filler line.\n" * 50)
    _cli("docs", "add", str(document), "--user", user)
    return str(memory["id"])


def _settle(data: Path) -> None:
    """Wait until Redis's rewrite of its files (started by the forgetting) is finished, and have Postgres
    write every page it holds in memory: the scan then sees what would reach the disk sooner or later."""
    with psycopg.connect(EmbeddedPostgres(ServicePaths(data)).url(), autocommit=True) as conn:
        conn.execute("CHECKPOINT")
    client = redis.Redis(unix_socket_path=str(ServicePaths(data).redis_socket))
    try:
        deadline, idle = time.monotonic() + 30, 0
        while time.monotonic() < deadline:
            info = client.info("persistence")
            busy = info["aof_rewrite_in_progress"] or info["aof_rewrite_scheduled"] or info["rdb_bgsave_in_progress"]
            if not busy:
                idle += 1
                if idle == 3:  # a BGSAVE scheduled behind the rewrite starts on the server's next tick (100 ms)
                    return
            else:
                idle = 0
            time.sleep(0.1)
        raise AssertionError("Redis did not finish rewriting its files in 30 s")
    finally:
        client.close()


def _hits(data: Path, marker: str) -> dict[str, int]:
    """Every file under the data directory (Postgres's base/, global/, pg_wal/...; Redis's files; logs)
    whose bytes hold the marker, with how many times."""
    needle = marker.encode()
    found = {}
    for path in sorted(data.rglob("*")):
        if path.is_file() and not path.is_socket():
            count = path.read_bytes().count(needle)
            if count:
                found[str(path.relative_to(data))] = count
    return found


def _not_owner_only(data: Path) -> list[str]:
    """Files the group or others may read or write, and folders they may list or write to."""
    wrong = []
    for path in [data, *data.rglob("*")]:
        try:
            info = path.lstat()
        except FileNotFoundError:  # a server's temporary file (Redis's temp-*.rdb) gone since the listing
            continue
        if stat.S_ISSOCK(info.st_mode) or stat.S_ISLNK(info.st_mode):
            continue
        if info.st_mode & 0o066:
            wrong.append(f"{path.relative_to(data)} {stat.filemode(info.st_mode)}")
    return wrong


def test_forgetting_everything_and_removing_the_user_leaves_no_byte_in_any_file(data_dir: Path, tmp_path: Path) -> None:
    gone, kept = _marker("gone"), _marker("kept")
    _plant(tmp_path, "ann", gone)
    _plant(tmp_path, "bob", kept)
    deadline = time.monotonic() + 5  # Redis appends to its file every second
    while not any(p.startswith("redis/") for p in _hits(data_dir, gone)) and time.monotonic() < deadline:
        time.sleep(0.2)
    before = _hits(data_dir, gone)  # the scan finds the marker where it is: WAL, Redis's file
    assert any(p.startswith("postgres/pg_wal/") for p in before) and any(p.startswith("redis/") for p in before)

    _cli("memory", "forget", "--all", "--conversations", "--documents", "--user", "ann", "--yes")
    _cli("users", "rm", "ann", "--yes")
    _settle(data_dir)

    assert _hits(data_dir, gone) == {}
    assert any(p.startswith("postgres/base/") for p in _hits(data_dir, kept)), "another user's data stays"
    assert EmbeddedPostgres(ServicePaths(data_dir)).retention_differences() == {}  # old WAL removed, not kept


def test_forgetting_one_memory_while_the_rest_stays(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """By default a single forgetting is vacuumed, not rewritten: the freed space of the touched tables' pages
    may keep the bytes until new rows overwrite it, and nowhere else (WAL, statistics, Redis, logs). With
    ``forget_rewrites_tables`` the tables are rewritten and no byte is left, of this forgetting or earlier ones."""
    kept, first, second = _marker("kept"), _marker("first"), _marker("second")
    _plant(tmp_path, "ann", kept)
    one = _cli("memory", "remember", f"My bank PIN is {first}.", "--user", "ann")
    two = _cli("memory", "remember", f"My door code is {second}.", "--user", "ann")
    assert _hits(data_dir, first) and _hits(data_dir, second)

    assert _cli("memory", "forget", str(one["id"]), "--user", "ann", "--yes")["forgotten"] == 1
    _settle(data_dir)
    assert all(p.startswith("postgres/base/") for p in _hits(data_dir, first)), _hits(data_dir, first)

    monkeypatch.setenv("ASSISTANT_FORGET_REWRITES_TABLES", "true")
    assert _cli("memory", "forget", str(two["id"]), "--user", "ann", "--yes")["forgotten"] == 1
    _settle(data_dir)
    assert _hits(data_dir, first) == {} and _hits(data_dir, second) == {}
    assert any(p.startswith("postgres/base/") for p in _hits(data_dir, kept))
    assert any(kept in m["text"] for m in _cli("memory", "list", "--user", "ann")["items"])


def test_every_file_the_app_creates_is_owner_only(data_dir: Path, tmp_path: Path) -> None:
    _plant(tmp_path, "ann", _marker("perm"))
    backup, export = data_dir / "backups" / "all.dump", tmp_path / "ann.jsonl"
    backup.parent.mkdir(mode=0o700)
    _cli("backup", str(backup))
    _cli("memory", "export", str(export), "--user", "ann")
    _cli("memory", "forget", "--all", "--user", "ann", "--yes")

    assert _not_owner_only(data_dir) == []
    for written in (backup, export):
        assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert stat.S_IMODE(data_dir.stat().st_mode) in (0o700, 0o710)  # 0710: Postgres's group may pass (root)
