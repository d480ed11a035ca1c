"""Document ingestion as a job: stored with its job in one transaction, embedded by a worker, idempotent, and
gone from the queue with its document."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool
from typer.testing import CliRunner

from assistant.cli.main import app
from assistant.context.citations import cited_sources
from assistant.jobs.kinds import EMBED_DOCUMENT
from assistant.pipeline.turn import TurnFinished
from assistant.providers.embedders import HashEmbedder
from assistant.providers.fake import FakeChatModel
from assistant.runtime import Runtime
from memory.job_queue import JobRequest
from tests.store_scan import scan_postgres
from tests.test_documents_context import HANDBOOK
from tests.test_long_term import FailingSecondBatch

MakeRuntime = Callable[..., Runtime]
runner = CliRunner()


async def _jobs(pool: AsyncConnectionPool) -> list[tuple[str, str, dict[str, Any]]]:
    async with pool.connection() as conn:
        rows = await (
            await conn.execute("SELECT task_name, status::text, args FROM procrastinate_jobs ORDER BY id")
        ).fetchall()
    return [(str(task), str(status), dict(args)) for task, status, args in rows]


async def _vectors(pool: AsyncConnectionPool) -> list[tuple[uuid.UUID, str | None]]:
    async with pool.connection() as conn:
        rows = await (await conn.execute("SELECT id, embedding::text FROM document_chunks ORDER BY id")).fetchall()
    return [(row[0], row[1]) for row in rows]


async def _queue_text(pool: AsyncConnectionPool, text: str) -> dict[str, int]:
    return {t: n for t, n in (await scan_postgres(pool, text)).items() if t.startswith("procrastinate")}


async def test_an_upload_is_stored_with_its_job_and_found_by_its_words_until_embedded(
    make_runtime: MakeRuntime, pool: AsyncConnectionPool
) -> None:
    runtime = make_runtime(FakeChatModel())
    ann = await runtime.conversations.ensure_user("ann")
    info = await runtime.documents.add(ann.id, "handbook.md", HANDBOOK, wait=False)  # no worker runs yet

    assert info.status == "indexing" and info.unembedded == info.chunk_count > 0
    assert [d.status for d in await runtime.documents.list(ann.id)] == ["indexing"]
    # One job, ids only: no text of the document in the queue's tables.
    assert await _jobs(pool) == [(EMBED_DOCUMENT, "todo", {"document_id": str(info.id), "user_id": str(ann.id)})]
    assert await _queue_text(pool, "vacation") == {} and await _queue_text(pool, "handbook") == {}

    # While indexing: found by its words, not by meaning.
    hits = await runtime.documents.search(ann.id, "vacation days")
    assert hits and all(h.vector_rank is None and h.text_rank is not None for h in hits)

    await runtime.drain()  # the worker's part
    [ready] = await runtime.documents.list(ann.id)
    assert ready.status == "ready" and ready.unembedded == 0
    assert all(vector is not None for _, vector in await _vectors(pool))
    assert (await runtime.documents.search(ann.id, "vacation days"))[0].vector_rank is not None
    assert await runtime.jobs.rows.counts() == {"succeeded": 1}


async def test_a_job_that_cannot_be_stored_takes_its_document_with_it(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime(FakeChatModel())
    ann = await runtime.conversations.ensure_user("ann")
    runtime.documents.index_job = JobRequest(EMBED_DOCUMENT, "q" * 300)  # longer than a queue name may be
    with pytest.raises(psycopg.errors.StringDataRightTruncation):
        await runtime.documents.add(ann.id, "handbook.md", HANDBOOK, wait=False)
    assert await runtime.documents.list(ann.id) == []
    assert await runtime.documents.store.counts(ann.id) == (0, 0)


async def test_the_embedding_job_run_twice_changes_nothing(
    make_runtime: MakeRuntime, pool: AsyncConnectionPool
) -> None:
    runtime = make_runtime(FakeChatModel())
    ann = await runtime.conversations.ensure_user("ann")
    info = await runtime.documents.add(ann.id, "handbook.md", HANDBOOK, wait=False)
    await runtime.drain()
    before = await _vectors(pool)

    [done] = await runtime.jobs.rows.list(status="succeeded")
    await runtime.jobs.defer([JobRequest(done.task, done.queue, done.args)])
    await runtime.drain()
    assert await _vectors(pool) == before
    assert await runtime.documents.embed_pending(ann.id, info.id) == 0  # nothing left to embed

    # Adding the same file again queues nothing and embeds nothing; a changed file re-embeds what changed only.
    again = await runtime.documents.add(ann.id, "handbook.md", HANDBOOK, wait=False)
    assert again.unchanged and await runtime.jobs.rows.waiting() == 0
    edited = await runtime.documents.add(ann.id, "handbook.md", HANDBOOK + b"\n## Parking\n\nParking is free.\n")
    assert edited.status == "ready" and 0 < edited.embedded < edited.chunk_count


async def test_removing_a_document_drops_its_waiting_job_and_a_late_job_does_nothing(
    make_runtime: MakeRuntime, pool: AsyncConnectionPool
) -> None:
    marker = f"zebra{uuid.uuid4().hex[:8]}"
    runtime = make_runtime(FakeChatModel())
    ann = await runtime.conversations.ensure_user("ann")
    first = await runtime.documents.add(ann.id, "a.txt", f"The code word is {marker}.".encode(), wait=False)
    second = await runtime.documents.add(ann.id, "b.txt", f"Another word: {marker}.".encode(), wait=False)
    assert await runtime.jobs.rows.waiting() == 2

    await runtime.documents.remove(ann.id, first.id)
    assert [args["document_id"] for _, _, args in await _jobs(pool)] == [str(second.id)]
    await runtime.documents.remove_all(ann.id)
    assert await _jobs(pool) == []
    assert await _queue_text(pool, marker) == {}

    # A job that was already running when its document went finds nothing to do.
    assert await runtime.documents.embed_pending(ann.id, second.id) == 0
    await runtime.drain()
    assert await runtime.documents.store.counts(ann.id) == (0, 0)


async def test_a_document_is_cited_once_its_job_has_run(make_runtime: MakeRuntime) -> None:
    model = FakeChatModel(lambda messages: "You get 27 vacation days a year [1].")
    runtime = make_runtime(model)
    ann = await runtime.conversations.ensure_user("ann")
    thread = await runtime.conversations.create_thread(ann.id)
    await runtime.documents.add(ann.id, "handbook.md", HANDBOOK, wait=False)
    await runtime.drain()

    events = [event async for event in runtime.pipeline.run(thread, "How many vacation days do I get?")]
    finished = events[-1]
    assert isinstance(finished, TurnFinished)
    assert "Every employee gets 27 vacation days" in model.received[-1][0].content
    [source] = cited_sources(finished.report, finished.reply.content)
    assert source.source.startswith("handbook.md")


async def test_an_embedding_job_stopped_midway_keeps_what_it_stored_and_the_next_run_finishes(
    make_runtime: MakeRuntime,
) -> None:
    runtime = make_runtime(FakeChatModel())
    ann = await runtime.conversations.ensure_user("ann")
    info = await runtime.documents.add(ann.id, "handbook.md", HANDBOOK, wait=False)
    assert info.unembedded >= 2
    failing = runtime.documents
    failing.embedder, failing.embed_batch = FailingSecondBatch(), 1
    with pytest.raises(RuntimeError):
        await failing.embed_pending(ann.id, info.id)
    [partial] = await runtime.documents.list(ann.id)
    assert partial.unembedded == info.unembedded - 1 and partial.status == "indexing"

    failing.embedder = HashEmbedder()
    assert await failing.embed_pending(ann.id, info.id) == info.unembedded - 1  # only what was left
    assert (await runtime.documents.list(ann.id))[0].status == "ready"


def _cli(args: list[str], *, code: int = 0) -> Any:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


@pytest.mark.usefixtures("store_env")
def test_with_external_workers_a_document_is_indexing_until_a_worker_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "handbook.md").write_bytes(HANDBOOK)
    monkeypatch.setenv("ASSISTANT_WORKERS", "external")
    [added] = _cli(["docs", "add", str(tmp_path / "handbook.md"), "-u", "ann"])
    assert added["document"]["status"] == "indexing" and added["document"]["unembedded"] > 0
    assert [d["status"] for d in _cli(["docs", "list", "-u", "ann"])] == ["indexing"]
    table = runner.invoke(app, ["docs", "list", "-u", "ann"])
    assert table.exit_code == 0 and "indexing" in table.output
    [job] = _cli(["jobs", "list", "--status", "todo"])
    assert job["task"] == EMBED_DOCUMENT and job["args"]["document_id"] == added["document"]["id"]

    assert _cli(["status"])["counts"]["document_chunks_indexing"] == added["document"]["unembedded"]

    worker = runner.invoke(app, ["worker", "--once"])
    assert worker.exit_code == 0, worker.output
    assert [d["status"] for d in _cli(["docs", "list", "-u", "ann"])] == ["ready"]
    assert _cli(["status"])["counts"]["document_chunks_indexing"] == 0
    assert _cli(["docs", "search", "vacation days", "-u", "ann", "-n", "1"])[0]["source"].startswith("handbook.md")

    # --wait embeds before returning, whoever runs the jobs.
    (tmp_path / "notes.md").write_text("# Notes\n\nThe garden gate code is 4411.\n")
    [waited] = _cli(["docs", "add", str(tmp_path / "notes.md"), "-u", "ann", "--wait"])
    assert waited["document"]["status"] == "ready" and waited["embedded"] == 1


class _BrokenPassages(HashEmbedder):
    """Embeds questions but fails on every passage, as a provider that is down would."""

    async def passages(self, texts: Any) -> Any:
        raise RuntimeError("the embedding provider is down")


async def test_a_document_whose_job_ran_out_of_tries_says_so_instead_of_indexing_forever(
    make_runtime: MakeRuntime,
) -> None:
    runtime = make_runtime(FakeChatModel(), job_attempts=1, embedder_instance=_BrokenPassages())
    ann = await runtime.conversations.ensure_user("ann")
    info = await runtime.documents.add(ann.id, "handbook.md", HANDBOOK, wait=False)
    assert info.status == "indexing"

    await runtime.drain()
    [failed] = await runtime.documents.list(ann.id)
    assert failed.status == "failed" and failed.unembedded == failed.chunk_count
    assert await runtime.jobs.rows.counts() == {"failed": 1}
    # Waiting for it ends at once rather than at the timeout, and words still find it.
    done = await runtime.documents.wait_indexed(ann.id, info.id, timeout_s=60)
    assert done is not None and done.status == "failed"
    assert await runtime.documents.search(ann.id, "vacation days")
