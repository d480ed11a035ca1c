"""Owner-only files and folders (assistant/private_files.py), and how Postgres's user reaches its data under
root without any folder opened wider than it needs (assistant/embedded/postgres.py)."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

import pytest

from assistant.embedded.postgres import _open_path_to, _RunAs
from assistant.private_files import private_dir, private_file, tighten, write_private


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_folders_are_created_owner_only_and_open_ones_are_closed(tmp_path: Path) -> None:
    created = private_dir(tmp_path / "a" / "b")
    assert _mode(created) == 0o700
    opened = tmp_path / "open"
    opened.mkdir(mode=0o777)
    opened.chmod(0o777)
    assert _mode(private_dir(opened)) == 0o700


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder to another group needs root")
def test_search_permission_given_to_postgres_group_is_kept(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chown(shared, -1, 65534)  # a group that is not ours, as Postgres's is
    shared.chmod(0o775)
    assert _mode(private_dir(shared)) == 0o710  # group may pass, not list; others nothing


def test_files_are_created_owner_only_and_readable_ones_are_tightened(tmp_path: Path) -> None:
    assert _mode(private_file(tmp_path / "new.log")) == 0o600
    old = tmp_path / "old.aof"
    old.write_text("kept")
    old.chmod(0o644)
    private_file(old)
    assert _mode(old) == 0o600 and old.read_text() == "kept"
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "dump.rdb").write_text("x")
    (legacy / "dump.rdb").chmod(0o664)
    tighten(legacy)
    assert _mode(legacy / "dump.rdb") == 0o600
    export = tmp_path / "export.jsonl"
    export.write_text("old")
    export.chmod(0o644)
    write_private(export, b"new")
    assert _mode(export) == 0o600 and export.read_bytes() == b"new"


@pytest.mark.skipif(os.geteuid() != 0, reason="only root starts Postgres as another user")
def test_only_folders_postgres_cannot_pass_get_search_permission_and_never_read() -> None:
    run_as = _RunAs(uid=65534, gid=65534)
    tmp_path = Path(tempfile.mkdtemp(prefix="assistant-test-"))  # under /tmp, which anyone may pass
    tmp_path.chmod(0o755)
    try:
        _check_opened(tmp_path, run_as)
    finally:
        shutil.rmtree(tmp_path)


def _check_opened(tmp_path: Path, run_as: _RunAs) -> None:
    closed = tmp_path / "closed"  # root's private folder: needs o+x
    closed.mkdir(mode=0o700)
    closed.chmod(0o700)
    grouped = closed / "grouped"  # Postgres's group may pass already
    grouped.mkdir()
    os.chown(grouped, -1, run_as.gid)
    grouped.chmod(0o710)
    target = grouped / "data"
    target.mkdir(mode=0o700)
    os.chown(target, run_as.uid, run_as.gid)

    opened = _open_path_to(target, run_as)

    assert opened == [closed]
    assert _mode(closed) == 0o701  # search only, no read
    assert _mode(grouped) == 0o710 and _mode(target) == 0o700 and _mode(tmp_path) == 0o755
