"""`assistant services up | down | status` and `assistant db migrate | status | partition`."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from assistant.cli.common import JSON_OPTION, console, print_json, run, settings

if TYPE_CHECKING:
    from assistant.embedded.status import ServiceStatus

services_app = typer.Typer(help="Manage the embedded Postgres and Redis servers.", no_args_is_help=True)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)


def _show(statuses: list[ServiceStatus], as_json: bool) -> None:
    from memory.redaction import redact

    if as_json:
        print_json([asdict(s) | {"url": redact(s.url) if s.url else None} for s in statuses])
        return
    table = Table("service", "state", "pid", "url", "detail")
    for s in statuses:
        state = "[green]running[/green]" if s.running else "[yellow]stopped[/yellow]"
        table.add_row(s.name, state, str(s.pid or ""), redact(s.url) if s.url else "", s.detail)
    console.print(table)


@services_app.command("up")
def services_up(as_json: bool = JSON_OPTION) -> None:
    """Start the embedded servers (a running one is found, not started twice).

    Example: assistant services up
    """
    from assistant.embedded import manager

    config = settings()
    run(asyncio.to_thread(manager.ensure_running, config))
    _show(manager.status(config), as_json)


@services_app.command("down")
def services_down(as_json: bool = JSON_OPTION) -> None:
    """Stop the embedded servers; data stays in the data directory.

    Example: assistant services down
    """
    from assistant.embedded import manager

    stopped = run(asyncio.to_thread(manager.stop, settings()))
    if as_json:
        print_json({"stopped": stopped})
    else:
        console.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@services_app.command("status")
def services_status(as_json: bool = JSON_OPTION) -> None:
    """Show whether each server runs, where, and where its data lives.

    Example: assistant services status --json
    """
    from assistant.embedded import manager

    _show(manager.status(settings()), as_json)


@db_app.command("migrate")
def db_migrate(as_json: bool = JSON_OPTION) -> None:
    """Bring the schema to the newest version (also done on every start).

    Example: assistant db migrate
    """
    from assistant.embedded import manager
    from memory.db.migrations import LATEST, migrate

    config = settings()
    endpoints = run(asyncio.to_thread(manager.ensure_running, config))
    applied = run(migrate(endpoints.database_url))
    if as_json:
        print_json({"applied": [m.version for m in applied], "version": LATEST})
    else:
        names = ", ".join(f"{m.version:04d}_{m.name}" for m in applied)
        console.print(f"applied {names}" if applied else f"schema is up to date (version {LATEST})")


@db_app.command("status")
def db_status(as_json: bool = JSON_OPTION) -> None:
    """Show the schema version of the database and the newest one this code knows.

    Example: assistant db status
    """
    import psycopg

    from assistant.embedded import manager
    from memory.db.migrations import LATEST, MIGRATIONS, current_version

    config = settings()
    endpoints = run(asyncio.to_thread(manager.ensure_running, config))

    async def version() -> int:
        async with await psycopg.AsyncConnection.connect(endpoints.database_url) as conn:
            return await current_version(conn)

    current = run(version())
    pending = [m.version for m in MIGRATIONS if m.version > current]
    if as_json:
        print_json({"version": current, "latest": LATEST, "pending": pending})
    else:
        console.print(f"schema version {current} of {LATEST}" + (f"; pending: {pending}" if pending else ""))


@db_app.command("partition")
def db_partition(
    partitions: int = typer.Option(16, "--partitions", "-p", help="How many hash partitions (2 to 1024)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Split the memories table into hash partitions by user (for millions of memories; see docs/deployment.md).

    One transaction: rows are copied and every index is built again per partition; writes to memories wait
    meanwhile, reads go on. A table already partitioned is left alone.

    Example: assistant db partition --partitions 16
    """
    from assistant.cli.bench import _with_progress
    from assistant.embedded import manager
    from memory.db.migrations import migrate
    from memory.db.partitioning import partition_memories

    config = settings()
    endpoints = run(asyncio.to_thread(manager.ensure_running, config))
    run(migrate(endpoints.database_url))
    report = run(
        _with_progress(
            "partition",
            lambda progress: partition_memories(endpoints.database_url, partitions, progress=progress),
        )
    )
    if as_json:
        print_json(asdict(report))
    else:
        console.print(
            f"memories: {report.rows:,} rows in {report.partitions} partitions, "
            f"{report.indexes} indexes built again, in {report.seconds:.1f} s"
        )
