"""The `assistant` command: one Typer app with subcommand groups."""

from __future__ import annotations

import sys

import typer

from assistant.cli.backup import backup, restore
from assistant.cli.bench import bench_app
from assistant.cli.chat import chat
from assistant.cli.common import check_argv
from assistant.cli.context import context_app
from assistant.cli.docs import docs_app
from assistant.cli.jobs import jobs_app, worker
from assistant.cli.mcp import mcp
from assistant.cli.memory import memory_app
from assistant.cli.serve import serve
from assistant.cli.services import db_app, services_app
from assistant.cli.status import status
from assistant.cli.threads import threads_app
from assistant.cli.users import users_app
from assistant.private_files import restrict_umask

app = typer.Typer(
    name="assistant",
    help="A chat assistant with layered memory. Example: assistant serve",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(services_app, name="services")
app.add_typer(db_app, name="db")
app.add_typer(memory_app, name="memory")
app.add_typer(docs_app, name="docs")
app.add_typer(bench_app, name="bench")
app.add_typer(users_app, name="users")
app.add_typer(threads_app, name="threads")
app.add_typer(context_app, name="context")
app.add_typer(jobs_app, name="jobs")
app.command("serve")(serve)
app.command("chat")(chat)
app.command("status")(status)
app.command("backup")(backup)
app.command("restore")(restore)
app.command("mcp")(mcp)
app.command("worker")(worker)


def main() -> None:
    restrict_umask()  # what the commands and the servers they start write is owner-only
    check_argv(sys.argv[1:])
    app()


if __name__ == "__main__":
    main()
