"""`assistant memory reembed --background`: the new model recorded and a job queued, a worker does the work."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from assistant.cli.main import app
from assistant.jobs.kinds import QUEUES, REEMBED
from assistant.providers.fake import FakeChatModel
from assistant.runtime import Runtime
from memory.job_queue import JobRequest
from tests.test_documents_context import HANDBOOK

MakeRuntime = Callable[..., Runtime]
runner = CliRunner()


def _dims(database_url: str) -> tuple[set[int], set[int], tuple[str, int]]:
    with psycopg.connect(database_url) as conn:
        memories = conn.execute("SELECT DISTINCT vector_dims(embedding) FROM memories").fetchall()
        chunks = conn.execute("SELECT DISTINCT vector_dims(embedding) FROM document_chunks").fetchall()
        model = conn.execute("SELECT name, dim FROM embedding_model").fetchone()
    return {r[0] for r in memories}, {r[0] for r in chunks}, (model[0], model[1]) if model else ("", 0)


def _cli(args: list[str]) -> Any:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.usefixtures("store_env")
def test_reembed_in_the_background_is_done_by_a_worker_and_can_run_again(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "handbook.md").write_bytes(HANDBOOK)
    _cli(["memory", "remember", "Blue whales are the largest animals.", "-u", "ann"])
    _cli(["docs", "add", str(tmp_path / "handbook.md"), "-u", "ann"])
    assert _dims(database_url) == ({384}, {384}, ("hash", 384))

    monkeypatch.setenv("ASSISTANT_EMBEDDER", "hash")
    monkeypatch.setenv("ASSISTANT_EMBEDDING_DIM", "64")
    monkeypatch.setenv("ASSISTANT_WORKERS", "external")
    assert _cli(["memory", "reembed", "--background", "--yes"]) == {"queued": True}
    # Recorded at once (processes configured with it can start); the vectors wait for a worker.
    assert _dims(database_url) == ({384}, {384}, ("hash", 64))
    [queued] = _cli(["jobs", "list", "--status", "todo"])
    assert queued["task"] == REEMBED and queued["queue"] == "maintenance"
    assert queued["args"] == {"embedder": "hash", "dim": "64"}

    for _ in range(2):  # a second run (a retried or repeated job) starts over and ends the same
        worker = runner.invoke(app, ["worker", "--once"])
        assert worker.exit_code == 0, worker.output
        assert _dims(database_url) == ({64}, {64}, ("hash", 64))
        hits = _cli(["memory", "search", "largest animals", "-u", "ann"])
        assert hits and "Blue whales" in json.dumps(hits)
        assert _cli(["docs", "search", "vacation days", "-u", "ann", "-n", "1"])[0]["source"].startswith("handbook")
        _cli(["memory", "reembed", "--background", "--yes"])
    assert [j["status"] for j in _cli(["jobs", "list", "--task", REEMBED])] == ["todo", "succeeded", "succeeded"]


async def test_a_worker_with_another_embedder_refuses_the_job_and_changes_nothing(
    make_runtime: MakeRuntime, database_url: str
) -> None:
    runtime = make_runtime(FakeChatModel())
    ann = await runtime.conversations.ensure_user("ann")
    await runtime.memories.remember(ann.id, "Blue whales are the largest animals.")
    await runtime.jobs.defer([JobRequest(REEMBED, QUEUES[REEMBED], {"embedder": "hash", "dim": "64"})])
    await runtime.drain()
    [failed] = await runtime.jobs.rows.list(task=REEMBED)
    assert failed.status == "failed" and failed.attempts == 1  # not retried: another attempt would fail the same
    assert (_dims(database_url))[0] == {384}
