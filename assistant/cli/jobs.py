"""`assistant worker` and `assistant jobs list | retry | purge`: the background job queue and who runs it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.table import Table

from assistant.cli.common import JSON_OPTION, console, err_console, fail, print_json, run, settings
from assistant.cli.scope import YES_OPTION, confirm

if TYPE_CHECKING:
    from assistant.runtime import Runtime

T = TypeVar("T")
STATUSES = ("todo", "doing", "succeeded", "failed", "cancelled", "aborted")
jobs_app = typer.Typer(
    help="The background job queue: list jobs, retry failed ones, purge finished ones.", no_args_is_help=True
)


def worker(
    concurrency: int = typer.Option(0, "--concurrency", "-c", min=0, help="Jobs run at once (0: the setting)."),
    queue: list[str] = typer.Option(
        [], "--queue", "-q", help="Only these queues: turns, facts, summaries, documents, maintenance (repeatable)."
    ),
    once: bool = typer.Option(False, "--once", help="Run the jobs that are ready, then exit."),
) -> None:
    """Run background jobs (episodic memory, summaries, fact extraction, document indexing, backfill) from the queue.

    Runs until SIGTERM or SIGINT, then finishes the jobs it holds and exits. Any number of workers, on any
    machines, share one queue; the web app runs none of them when ASSISTANT_WORKERS=external.

    Example: assistant worker --concurrency 8
    """
    from assistant.jobs.kinds import QUEUES

    unknown = sorted(set(queue) - set(QUEUES.values()))
    if unknown:
        fail(f"no queue {unknown[0]!r}; the queues are: {', '.join(sorted(set(QUEUES.values())))}")
    config = settings()
    logging.basicConfig(level=config.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run(_work(concurrency or config.worker_concurrency, queue, once))


async def _work(concurrency: int, queues: list[str], once: bool) -> None:
    from assistant.runtime import Runtime

    config = settings().model_copy(update={"workers": "external"})  # its own drain runs no jobs on the way out
    runtime = await Runtime.start(config)
    log = logging.getLogger("assistant.worker")
    name = f"worker-{os.getpid()}"
    task = asyncio.create_task(runtime.jobs.run(wait=not once, concurrency=concurrency, name=name, queues=queues))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _stop, task, sig, log)
    log.info("%s started: %d at once, queues %s", name, concurrency, ", ".join(queues) or "all")
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await runtime.close()
        log.info("%s stopped", name)


def _stop(task: asyncio.Task[None], sig: signal.Signals, log: logging.Logger) -> None:
    log.info("%s: finishing the jobs in hand, then stopping", sig.name)
    task.cancel()  # procrastinate stops fetching and waits for the running jobs


async def _with_queue(work: Callable[[Runtime], Awaitable[T]]) -> T:
    from assistant.runtime import Runtime

    # Only looking at the queue: its own drain must not run the jobs it lists.
    runtime = await Runtime.start(
        settings().model_copy(update={"workers": "external"}), chat=False, check_embedder=False
    )
    try:
        return await work(runtime)
    finally:
        await runtime.close()


@jobs_app.command("list")
def list_jobs(
    status: str = typer.Option(None, "--status", "-s", help=f"Only jobs in this state: {', '.join(STATUSES)}."),
    task: str = typer.Option(None, "--task", help="Only jobs of this kind, e.g. facts.extract."),
    limit: int = typer.Option(20, "-n", "--limit", min=1, help="How many to show."),
    as_json: bool = JSON_OPTION,
) -> None:
    """List jobs, newest first; --status failed is the dead-letter view (jobs past their last attempt).

    Example: assistant jobs list --status failed -n 50
    """
    if status is not None and status not in STATUSES:
        fail(f"no state {status!r}; the states are: {', '.join(STATUSES)}")

    async def work(runtime: Runtime) -> tuple[list[dict[str, Any]], dict[str, int]]:
        rows = await runtime.jobs.rows.list(status=status, task=task, limit=limit)
        return [_as_json(r) for r in rows], await runtime.jobs.rows.counts()

    rows, counts = run(_with_queue(work))
    if as_json:
        print_json(rows)
        return
    table = Table("id", "kind", "state", "attempts", "last change", "about", title="jobs, newest first")
    for r in rows:
        args = r["args"]
        about = args.get("message_id") or args.get("document_id") or args.get("thread_id") or args.get("user_id")
        about = about or "all"
        changed = (r["updated_at"] or "")[:19].replace("T", " ")
        table.add_row(str(r["id"]), r["task"], r["status"], str(r["attempts"]), changed, str(about)[:8])
    console.print(table)
    console.print(", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no jobs")


def _as_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "task": row.task,
        "queue": row.queue,
        "status": row.status,
        "attempts": row.attempts,
        "args": row.args,
        "scheduled_at": row.scheduled_at.isoformat() if row.scheduled_at else None,
        "updated_at": row.updated_at.isoformat() if row.updated_at else None,
    }


@jobs_app.command("retry")
def retry(
    ids: list[int] = typer.Argument(None, help="Failed jobs to run again (by id); none: every failed job."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Queue failed jobs again, with a fresh count of attempts (a job about something forgotten since does nothing).

    Example: assistant jobs retry 42 43
    """
    count = run(_with_queue(lambda runtime: runtime.jobs.rows.retry(ids or None)))
    if as_json:
        print_json({"retried": count})
    elif count:
        console.print(f"Queued {count} failed job{'s' if count != 1 else ''} again.")
    else:
        err_console.print("No failed job to retry" + (" with those ids." if ids else "."))


@jobs_app.command("purge")
def purge(
    status: list[str] = typer.Option(
        ["succeeded", "failed"], "--status", "-s", help="Finished states to delete (repeatable)."
    ),
    yes: bool = YES_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Delete finished jobs: succeeded and failed ones by default; waiting and running jobs are never touched.

    Example: assistant jobs purge --status succeeded --yes
    """
    finished = ("succeeded", "failed", "cancelled", "aborted")
    wrong = [s for s in status if s not in finished]
    if wrong:
        fail(f"only finished jobs can be purged ({', '.join(finished)}), not {wrong[0]!r}")
    if not confirm(f"Delete every {' and '.join(status)} job?", yes):
        fail("nothing deleted")
    count = run(_with_queue(lambda runtime: runtime.jobs.rows.purge(status)))
    if as_json:
        print_json({"purged": count})
    else:
        console.print(f"Deleted {count} finished job{'s' if count != 1 else ''}.")
