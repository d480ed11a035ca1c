"""`assistant bench load --url`: simulated users chat with a running app over its socket, as browsers do."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from assistant.embedded.manager import Endpoints
from tests.browser.conftest import AppServer, _app_env, _free_port

pytestmark = pytest.mark.slow


@pytest.fixture
def served(tmp_path: Path, database_url: str, services: Endpoints, redis_prefix: str) -> Iterator[AppServer]:
    env = _app_env(tmp_path, database_url, services, redis_prefix) | {"ASSISTANT_FAKE_TOKEN_DELAY_S": "0.01"}
    server = AppServer(f"http://127.0.0.1:{_free_port()}", env, tmp_path / "app.log")
    try:
        server.start()
        yield server
    finally:
        server.kill()


def test_two_runs_against_a_running_app(served: AppServer, database_url: str) -> None:
    assert served.process is not None
    command = [sys.executable, "-m", "assistant.cli.main", "bench", "load", "--json"]
    command += ["--url", served.url, "--url", served.url + "/", "--cpu-pid", str(served.process.pid)]
    command += ["--users", "2", "--turns", "2", "--think", "0.2", "--token-delay-ms", "10"]
    done = subprocess.run(command, env=served.env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert [run["url"] for run in result["runs"]] == [served.url, served.url]
    for run in result["runs"]:
        assert (run["turns"], run["errors"]) == (4, 0), run["error_samples"]
        assert run["turns_per_s"] > 0 and run["added_ms"]["p95"] > 0
        assert run["cpu_s_per_turn"] > 0 and 0 <= run["net_cpu_s_per_turn"] <= run["cpu_s_per_turn"]
    assert result["throughput_ratio"] > 0
    # Every turn went through the app's real path: 2 runs x 2 users x 2 turns, each message and reply stored.
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*), count(DISTINCT thread_id) FROM messages").fetchone()
    assert row == (16, 4)
