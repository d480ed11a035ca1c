"""`assistant docs ...`: add, list, search and remove the documents answers can cite (through the document service)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from assistant.cli.common import JSON_OPTION, console, err_console, print_json, run
from assistant.cli.scope import LIMIT_OPTION, USER_OPTION, YES_OPTION, confirm, user_id, with_assistant
from memory.errors import AssistantError, InvalidInputError, NotFoundError, describe

if TYPE_CHECKING:
    from memory.documents.records import DocumentInfo

if TYPE_CHECKING:
    from assistant.application.facade import Assistant

docs_app = typer.Typer(help="Documents the assistant can search and cite.", no_args_is_help=True)
THREAD_OPTION = typer.Option(
    None, "--thread", "-t", help="Only for this conversation (its id, or its name as in `assistant chat --thread`)."
)


async def _thread_id(app: Assistant, uid: uuid.UUID, reference: str | None, *, create: bool) -> uuid.UUID | None:
    """A conversation by id, or by name (created on first use when adding, as `assistant chat` does)."""
    if not reference:
        return None
    try:
        return uuid.UUID(reference.strip())
    except ValueError:
        pass
    if create:
        return (await app.conversations.named_thread(uid, reference)).id
    for thread in await app.conversations.list_threads(uid, limit=10_000):
        if thread.name == reference:
            return thread.id
    raise NotFoundError(f"no conversation named {reference!r}")


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1048576:.1f} MB"


def _row(info: DocumentInfo) -> dict[str, Any]:
    fields = info.model_dump(mode="json", exclude={"user_id", "embedded", "unchanged", "index_job"})
    return {**fields, "status": info.status}


def _table(documents: list[DocumentInfo], title: str) -> Table:
    table = Table(title=title)
    table.add_column("id", no_wrap=True)
    table.add_column("name", no_wrap=True, min_width=12)
    for name in ("type", "pages", "chunks", "status", "size", "added", "conversation"):
        table.add_column(name, no_wrap=name == "status")
    for d in documents:
        table.add_row(
            str(d.id)[:8],
            d.name,
            d.type,
            str(d.pages or ""),
            str(d.chunk_count),
            d.status,
            _size(d.size_bytes),
            d.created_at.strftime("%Y-%m-%d"),
            str(d.thread_id)[:8] if d.thread_id else "all",
        )
    return table


@docs_app.command("add")
def add(
    paths: list[Path] = typer.Argument(..., help="Files: .txt .md .pdf .html .docx"),
    user: str = USER_OPTION,
    thread: str = THREAD_OPTION,
    wait: bool = typer.Option(
        None,
        "--wait/--no-wait",
        help="Embed the chunks before returning (default when jobs run in-process), or return once the file is "
        "stored and leave its embedding to a worker (default with ASSISTANT_WORKERS=external).",
        show_default=False,
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Add files (a file of the same name is updated: only changed parts are embedded again).

    A file is stored with its embedding job in one step; until its chunks have vectors it is "indexing" and
    found by its words only.

    Example: assistant docs add handbook.pdf notes.md --user ann
    """

    async def work(app: Assistant) -> list[dict[str, Any]]:
        waiting = wait if wait is not None else app.settings.workers == "in-process"
        uid = await user_id(app, user, create=True)
        thread_id = await _thread_id(app, uid, thread, create=True)
        results: list[dict[str, Any]] = []
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=err_console, disable=as_json, transient=False) as bar:
            for path in paths:
                task = bar.add_task(f"{path.name} (reading)", total=None)
                try:
                    data = await asyncio.to_thread(_read, path)
                    bar.update(task, description=f"{path.name} (parsing)")

                    def progress(done: int, total: int, task: Any = task, name: str = path.name) -> None:
                        bar.update(task, description=f"{name} (embedding)", completed=done, total=total)

                    info = await app.documents.add(
                        uid, path.name, data, thread_id=thread_id, progress=progress, wait=waiting
                    )
                    state = "unchanged" if info.unchanged else f"{info.chunk_count} chunks, {info.embedded} embedded"
                    if info.unembedded:
                        state = f"{info.chunk_count} chunks, indexing"
                    done = max(1, info.chunk_count)
                    bar.update(task, description=f"{path.name} ({state})", completed=done, total=done)
                    results.append({"file": str(path), "document": _row(info), "embedded": info.embedded})
                except AssistantError as exc:
                    bar.update(task, description=f"[red]{path.name} (failed)[/red]", total=1, completed=0)
                    results.append({"file": str(path), "error": describe(exc)})
        return results

    results = run(with_assistant(work))
    failed = [r for r in results if "error" in r]
    if as_json:
        print_json(results)
    else:
        for r in results:
            if "error" in r:
                err_console.print(f"[red]error:[/red] {r['error']}", highlight=False, soft_wrap=True)
            else:
                doc = r["document"]
                pages = f", {doc['pages']} pages" if doc["pages"] else ""
                state = (
                    f"indexing: a worker embeds {doc['unembedded']} of them"
                    if doc["unembedded"]
                    else f"{r['embedded']} embedded"
                )
                console.print(f"added {doc['name']} ({doc['id'][:8]}): {doc['chunk_count']} chunks{pages}, {state}")
    if failed:
        raise typer.Exit(1)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InvalidInputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InvalidInputError(f"{path}: is a directory, not a file") from None
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot be read ({exc.strerror})") from None


@docs_app.command("list")
def list_documents(
    user: str = USER_OPTION, thread: str = THREAD_OPTION, limit: int = LIMIT_OPTION, as_json: bool = JSON_OPTION
) -> None:
    """List documents, newest first (with --thread: those that conversation can use).

    Example: assistant docs list --user ann -n 50 --json
    """

    async def work(app: Assistant) -> list[DocumentInfo]:
        uid = await user_id(app, user, create=False)
        thread_id = await _thread_id(app, uid, thread, create=False)
        return (await app.documents.list(uid, thread_id=thread_id))[:limit]

    documents = run(with_assistant(work))
    if as_json:
        print_json([_row(d) for d in documents])
    elif not documents:
        console.print(f"{user} has no documents; add some with `assistant docs add FILE --user {user}`")
    else:
        console.print(_table(documents, f"documents of {user}"))


@docs_app.command("search")
def search(query: str, user: str = USER_OPTION, limit: int = LIMIT_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Search every document's chunks, best first (what the chat would put in context).

    Example: assistant docs search "vacation days" --user ann -n 5
    """

    async def work(app: Assistant) -> list[dict[str, Any]]:
        uid = await user_id(app, user, create=False)
        hits = await app.documents.search(uid, query, limit=limit)
        return [
            {"score": round(h.score, 6), "source": h.chunk.citation, **h.chunk.model_dump(mode="json")} for h in hits
        ]

    rows = run(with_assistant(work))
    if as_json:
        print_json(rows)
        return
    table = Table("score", "source", "text", title=f"document chunks matching {query!r}")
    for row in rows:
        table.add_row(f"{row['score']:.4f}", row["source"], row["text"][:300])
    console.print(table)


@docs_app.command("rm")
def remove(
    reference: str = typer.Argument(..., help="The document's id (or its first characters) or its name."),
    user: str = USER_OPTION,
    yes: bool = YES_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Remove a document and everything stored of it; asks first.

    Example: assistant docs rm 3f2a9c1e --user ann --yes
    """

    async def work(app: Assistant) -> dict[str, Any]:
        uid = await user_id(app, user, create=False)
        document = await app.documents.resolve(uid, reference)
        if not as_json:
            console.print(_table([document], "to remove"))
        if not confirm(f"Remove {document.name} and its {document.chunk_count} chunks?", yes):
            return {"removed": None, "cancelled": True}
        removed = await app.documents.remove(uid, document.id)
        return {"removed": _row(removed)}

    result = run(with_assistant(work))
    if as_json:
        print_json(result)
    elif result.get("cancelled"):
        console.print("cancelled; nothing was removed")
    else:
        console.print(f"removed {result['removed']['name']}")


def bench_docs(
    chunks: int = typer.Option(10_000, "--chunks", "-n", min=1, help="Chunks the benchmark user ends up with."),
    queries: int = typer.Option(200, "--queries", "-q", min=1, help="LoCoMo questions to search (distinct)."),
    kind: str = typer.Option("pdf", "--format", help="Write the documents as 'pdf' or 'md'."),
    locomo: Path = typer.Option(None, "--locomo", help="A LoCoMo-format file (default: the shipped dev file)."),
    keep: bool = typer.Option(False, "--keep", help="Keep the benchmark user and documents afterwards."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Document ingestion throughput (pages/s, chunks/s) and search latency p50/p95 at N chunks per user.

    Example: assistant bench docs --chunks 10000 --queries 200 --json
    """
    from assistant.bench.documents import DEFAULT_LOCOMO, run_documents_bench
    from assistant.cli.common import settings

    if kind not in ("pdf", "md"):
        raise typer.BadParameter("--format is 'pdf' or 'md'")
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console, disable=as_json) as bar:
        tasks: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        result = run(
            run_documents_bench(
                settings(),
                chunks=chunks,
                queries=queries,
                kind="md" if kind == "md" else "pdf",
                locomo=locomo or DEFAULT_LOCOMO,
                keep=keep,
                progress=progress,
            )
        )
    if as_json:
        print_json(result)
        return
    table = Table("figure", "value", title=f"documents: {result['chunks']:,} chunks, {result['embedder']}")
    for name in ("documents", "pages", "chunks", "megabytes", "ingest_s", "pages_per_s", "chunks_per_s"):
        table.add_row(name, str(result[name]))
    table.add_row("embedding share of ingestion", f"{result['embedding_share_pct']}%")
    table.add_row("upload without embedding, per document (ms)", str(result["upload_without_embedding_ms"]))
    for name in ("search_ms", "search_cached_vector_ms"):
        row = result[name]
        table.add_row(f"{name} p50 / p95 / p99", f"{row['p50']} / {row['p95']} / {row['p99']}")
    console.print(table)
    console.print(f"measured on {result['machine']}", style="dim")
