"""The embedded servers, each test with a data directory of its own."""

import os
import signal
from pathlib import Path

import psutil
import psycopg
import pytest
import redis

from assistant.embedded import manager
from assistant.embedded.paths import ServicePaths, require_binary
from assistant.embedded.postgres import EmbeddedPostgres
from assistant.settings import Settings
from memory.errors import ConfigError, ServiceError


def _pids(settings: Settings) -> dict[str, int | None]:
    return {s.name: s.pid for s in manager.status(settings)}


@pytest.mark.slow
def test_servers_start_once_keep_data_and_recover_from_a_crash(server_dir: Path) -> None:
    settings = Settings(data_dir=server_dir / "data")
    try:
        first = manager.ensure_running(settings)
        pids = _pids(settings)
        assert all(pids.values())
        assert manager.ensure_running(settings) == first  # found, not started twice
        assert _pids(settings) == pids

        with psycopg.connect(first.database_url, autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (v text)")
            conn.execute("INSERT INTO kept VALUES ('still here')")
            assert "18." in str(conn.execute("SHOW server_version").fetchone())
        redis.Redis.from_url(first.redis_url).set("kept", "also here")

        assert sorted(manager.stop(settings)) == ["postgres", "redis"]
        assert not any(s.running for s in manager.status(settings))
        again = manager.ensure_running(settings)
        with psycopg.connect(again.database_url) as conn:
            assert conn.execute("SELECT v FROM kept").fetchone() == ("still here",)
        assert redis.Redis.from_url(again.redis_url).get("kept") == b"also here"

        # A crash leaves pid files and sockets behind; the next start cleans them up.
        for pid in _pids(settings).values():
            assert pid
            os.kill(pid, signal.SIGKILL)
            psutil.Process(pid).wait(timeout=10)
        paths = ServicePaths(settings.data_dir)
        assert (paths.postgres_data / "postmaster.pid").exists()
        recovered = manager.ensure_running(settings)
        with psycopg.connect(recovered.database_url) as conn:
            assert conn.execute("SELECT v FROM kept").fetchone() == ("still here",)
        assert redis.Redis.from_url(recovered.redis_url).get("kept") == b"also here"
    finally:
        manager.stop(settings)


def test_configured_urls_start_nothing(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", database_url="postgresql://db.example/x", redis_url="redis://cache.example"
    )
    endpoints = manager.ensure_running(settings)
    assert endpoints == manager.Endpoints("postgresql://db.example/x", "redis://cache.example")
    assert not (tmp_path / "data").exists()
    assert [s.embedded for s in manager.status(settings)] == [False, False]


def test_a_data_directory_that_cannot_be_created_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError, match="cannot create") as info:
        manager.ensure_running(Settings(data_dir=blocker / "data"))
    assert info.value.hint and "ASSISTANT_DATA_DIR" in info.value.hint


def test_a_missing_binary_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ServiceError, match="binary not found") as info:
        require_binary(tmp_path / "postgres", "Postgres")
    assert info.value.hint


def test_a_long_data_path_keeps_sockets_short(tmp_path: Path) -> None:
    deep = tmp_path / ("x" * 60) / ("y" * 60)
    paths = ServicePaths(deep)
    assert len(str(paths.redis_socket)) < 100
    assert len(str(EmbeddedPostgres(paths).socket_dir / ".s.PGSQL.5432.lock")) < 108
