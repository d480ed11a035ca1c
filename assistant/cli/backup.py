"""`assistant backup FILE` / `assistant restore FILE`: the whole data set, as one Postgres dump.

Postgres is the source of truth (the job queue included); Redis holds only what is
rebuilt from it (recent turns, summaries), so it is not part of a backup and is
cleared after a restore. pg_dump reads one consistent snapshot, so a backup can
be taken while the app runs.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import typer

from assistant.cli.common import JSON_OPTION, console, fail, print_json, run, settings
from assistant.cli.scope import YES_OPTION, confirm
from assistant.private_files import OWNER_ONLY_UMASK, private_file
from memory.errors import ServiceError, describe


def _tool(name: str) -> str:
    """The embedded Postgres' own client tool (matches the server's version), else one on PATH."""
    from assistant.embedded.postgres import binaries_dir

    bundled = binaries_dir() / name
    if bundled.exists():
        return str(bundled)
    found = shutil.which(name)
    if found is None:
        raise ServiceError(f"{name} is not available", hint="install the PostgreSQL client tools")
    return found


def _run_tool(argv: list[str], what: str) -> None:
    from memory.redaction import redact

    result = subprocess.run(argv, capture_output=True, text=True, check=False, umask=OWNER_ONLY_UMASK)
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        # The tool is given the database URL; its last line must not show the URL's password.
        raise ServiceError(f"{what} failed: {redact(lines[-1]) if lines else f'exit status {result.returncode}'}")


def backup(
    file: Path = typer.Argument(..., help="The backup file to write (Postgres custom format)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Back up everything (users, conversations, memories, documents) while the app may be running.

    Redis is not included: it only holds state rebuilt from Postgres.

    Example: assistant backup ~/assistant-2025-03-01.dump
    """
    if file.is_dir():
        fail(f"{file} is a directory; give a file name")
    from assistant.runtime import prepare_stores

    endpoints = run(prepare_stores(settings()))
    partial = file.with_name(file.name + ".partial")
    try:
        private_file(partial)  # a backup holds password hashes and every conversation: owner-only
        run(asyncio.to_thread(_run_tool, [_tool("pg_dump"), "--format=custom", "--no-owner", f"--file={partial}",
                                          f"--dbname={endpoints.database_url}"], "pg_dump"))  # fmt: skip
        partial.replace(file)
    except OSError as exc:
        fail(f"cannot write {file}: {exc.strerror}")
    finally:
        partial.unlink(missing_ok=True)
    size = file.stat().st_size
    print_json({"file": str(file), "bytes": size}) if as_json else console.print(
        f"backed up to {file} ({size / 1048576:.1f} MB)"
    )


async def _clear_redis() -> int:
    from assistant.application.lifecycle import running

    async with running(settings(), chat=False, check_embedder=False) as app:
        return await app.clear_fast_state()


def restore(
    file: Path = typer.Argument(..., help="A file written by `assistant backup`."),
    yes: bool = YES_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Replace ALL current data with a backup (asks first); Redis state is cleared and rebuilds itself.

    Stop the app (`assistant serve`) first: its open connections would make the restore wait.

    Example: assistant restore ~/assistant-2025-03-01.dump --yes
    """
    if not file.is_file():
        fail(f"no backup file {file}")
    from assistant.runtime import prepare_stores
    from memory.db.migrations import migrate

    endpoints = run(prepare_stores(settings()))
    try:
        pg_restore = _tool("pg_restore")
    except ServiceError as exc:
        fail(describe(exc))
    probe = subprocess.run([pg_restore, "--list", str(file)], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        fail(f"{file} is not a backup written by `assistant backup`")
    if not confirm(f"Replace every user, conversation, memory and document with the backup {file}?", yes):
        print_json({"restored": False, "cancelled": True}) if as_json else console.print(
            "cancelled; nothing was changed"
        )
        return
    argv = [pg_restore, "--clean", "--if-exists", "--no-owner", "--single-transaction",
            f"--dbname={endpoints.database_url}", str(file)]  # fmt: skip
    run(asyncio.to_thread(_run_tool, argv, "pg_restore"))
    run(migrate(endpoints.database_url))
    cleared = run(_clear_redis())
    if as_json:
        print_json({"restored": True, "file": str(file), "cleared_redis_keys": cleared})
    else:
        console.print(f"restored {file}; cleared {cleared} short-term keys (rebuilt from Postgres on next use)")
