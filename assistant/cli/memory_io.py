"""`assistant memory export | import | reembed`: the open JSON Lines file, and new vectors for every memory."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from rich.progress import Progress

from assistant.cli.common import (
    JSON_OPTION,
    console,
    err_console,
    print_json,
    read_text,
    run,
    settings,
    write_output,
)
from assistant.cli.scope import USER_OPTION, YES_OPTION, user_id, with_assistant
from memory.errors import InvalidInputError

if TYPE_CHECKING:
    from assistant.application.facade import Assistant


def export(
    file: str = typer.Argument("-", help="Where to write (default: standard output)."),
    user: str = USER_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Export the user's conversations, memories, their history and documents as JSON Lines (docs/export-format.md).

    Example: assistant memory export ann.jsonl --user ann
    """

    async def work(app: Assistant) -> str:
        uid = await user_id(app, user, create=False)
        return await app.portability.export_jsonl(uid)

    text = run(with_assistant(work))
    lines = text.count("\n")
    if not write_output(file, text):
        return
    if as_json:
        print_json({"file": file, "lines": lines})
    else:
        console.print(f"exported {lines} lines for {user} to {file}")


def import_file(
    file: str = typer.Argument(..., help="A file written by `memory export` ('-' for standard input)."),
    user: str = USER_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Import an export into a user (created if new); what is already there is kept, a bad line changes nothing.

    Example: assistant memory import ann.jsonl --user ann
    """
    text = read_text(file, file)

    async def work(app: Assistant) -> dict[str, Any]:
        if not text.strip():
            raise InvalidInputError(f"{file} is empty")
        # The whole file is checked before anything is written, the user included.
        parsed = app.portability.parse(text.splitlines())
        uid = await user_id(app, user, create=True)
        with Progress(console=err_console, disable=as_json, transient=True) as bar:
            task = bar.add_task("embedding memories", total=None)
            report = await app.portability.import_parsed(
                uid, parsed, progress=lambda done, total: bar.update(task, completed=done, total=total)
            )
        return dict(vars(report))

    result = run(with_assistant(work))
    if as_json:
        print_json(result)
    else:
        console.print(
            f"imported into {user}: {result['threads']} conversations, {result['messages']} messages, "
            f"{result['memories']} memories, {result['events']} events, {result['documents']} documents"
            + (f" ({result['skipped']} memories were already there)" if result["skipped"] else "")
        )
        if result["dropped_references"]:
            err_console.print(
                f"[yellow]note:[/yellow] {result['dropped_references']} reference(s) to rows that are neither in the "
                "file nor this user's were left out"
            )


def reembed(
    yes: bool = YES_OPTION,
    background: bool = typer.Option(
        False,
        "--background",
        help="Queue the work for a worker instead of doing it here (`assistant jobs list --task vectors.reembed` "
        "shows it; the worker's log shows how far it got).",
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Embed every memory again with the configured embedder (after changing ASSISTANT_EMBEDDER).

    With --background the new model is recorded at once (so the app and workers configured with it start) and
    a worker with the same ASSISTANT_EMBEDDER does the work; search by meaning is off until it is done.

    Example: ASSISTANT_EMBEDDER=openai/text-embedding-3-small ASSISTANT_EMBEDDING_DIM=1536 assistant memory reembed
    """
    from assistant.application.lifecycle import running

    async def work() -> int | None:
        # Queuing only: this command's own drain must not run the job it queues.
        config = settings().model_copy(update={"workers": "external"}) if background else settings()
        async with running(config, chat=False, check_embedder=False) as app:
            if not (yes or typer.confirm(f"Re-embed every memory with {app.embedder_name}?", True)):
                return 0
            if background:
                await app.reembed_later()
                return None
            with Progress(console=console, disable=as_json) as bar:
                task = bar.add_task("re-embedding", total=None)
                return await app.reembed(lambda done, total: bar.update(task, completed=done, total=total))

    count = run(work())
    if count is None:
        if as_json:
            print_json({"queued": True})
        else:
            console.print("queued: a worker re-embeds every memory (`assistant jobs list --task vectors.reembed`)")
        return
    print_json({"reembedded": count}) if as_json else console.print(f"re-embedded {count} memories")
