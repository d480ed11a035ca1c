"""`assistant memory ...`: see and control what the assistant remembers (through the memory service)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer
from rich.table import Table

from assistant.cli.common import JSON_OPTION, console, fail, print_json, run, settings
from assistant.runtime import Runtime
from memory.errors import InvalidInputError, NotFoundError
from memory.long_term.records import MemoryRecord

memory_app = typer.Typer(help="See and control what the assistant remembers.", no_args_is_help=True)
USER_OPTION = typer.Option("local", "--user", "-u", help="Whose memory (created on first write).")
LIMIT_OPTION = typer.Option(10, "-n", "--limit", min=1, help="How many to show.")
YES_OPTION = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation (for scripts).")
T = TypeVar("T")


async def _with_runtime(work: Callable[[Runtime], Awaitable[T]]) -> T:
    runtime = await Runtime.start(settings(), chat=False)
    try:
        return await work(runtime)
    finally:
        await runtime.close()


async def _user_id(runtime: Runtime, name: str, *, create: bool) -> uuid.UUID:
    if create:
        return (await runtime.conversations.ensure_user(name)).id
    return (await runtime.conversations.get_user(name)).id


def _row(memory: MemoryRecord, score: float | None = None) -> dict[str, Any]:
    data = memory.model_dump(mode="json", exclude={"user_id"})
    if score is not None:
        data["score"] = round(score, 6)
    return data


def _table(rows: list[dict[str, Any]], title: str) -> None:
    table = Table("id", "kind", "text", "said", "current", title=title, show_lines=False)
    for row in rows:
        kind = row["kind"] + (" (pinned)" if row["pinned"] else "")
        text = (f"{row['speaker'] or row['role'] or ''}: " if row["kind"] == "episodic" else "") + row["text"]
        table.add_row(row["id"][:8], kind, text[:200], row["said_at"][:10], "yes" if not row["valid_to"] else "no")
    console.print(table)


@memory_app.command("search")
def search(query: str, user: str = USER_OPTION, limit: int = LIMIT_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Search every kind of memory (turns, facts, pinned), best first.

    Example: assistant memory search "where does my sister live" --user ann -n 5
    """

    async def work(runtime: Runtime) -> list[dict[str, Any]]:
        user_id = await _user_id(runtime, user, create=False)
        return [_row(h.memory, h.score) for h in await runtime.memories.search(user_id, query, limit=limit)]

    rows = run(_with_runtime(work))
    print_json(rows) if as_json else _table(rows, f"memories matching {query!r}")


@memory_app.command("list")
def list_memories(user: str = USER_OPTION, limit: int = LIMIT_OPTION, as_json: bool = JSON_OPTION) -> None:
    """List current memories, newest first.

    Example: assistant memory list --user ann -n 20 --json
    """

    async def work(runtime: Runtime) -> list[dict[str, Any]]:
        user_id = await _user_id(runtime, user, create=False)
        return [_row(m) for m in await runtime.memories.list_memories(user_id, limit=limit)]

    rows = run(_with_runtime(work))
    print_json(rows) if as_json else _table(rows, f"memories of {user}")


@memory_app.command("remember")
def remember(text: str, user: str = USER_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Store a pinned memory: always in context, ahead of recalled ones.

    Example: assistant memory remember "I am vegetarian" --user ann
    """

    async def work(runtime: Runtime) -> dict[str, Any]:
        user_id = await _user_id(runtime, user, create=True)
        return _row(await runtime.memories.remember(user_id, text))

    row = run(_with_runtime(work))
    print_json(row) if as_json else console.print(f"remembered {row['id']}: {row['text']}")


@memory_app.command("forget")
def forget(
    memory_id: str = typer.Argument(None, help="The memory's id (or its first characters)."),
    query: str = typer.Option(None, "--query", "-q", help="Forget the memories matching this search."),
    everything: bool = typer.Option(False, "--all", help="Forget every memory, summary and context report."),
    conversations: bool = typer.Option(False, "--conversations", help="With --all: delete the conversations too."),
    user: str = USER_OPTION,
    limit: int = LIMIT_OPTION,
    yes: bool = YES_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Forget memories for good (this cannot be undone); shows what goes and asks first.

    Example: assistant memory forget --query "locker code" --user ann --yes
    """
    if sum(bool(x) for x in (memory_id, query, everything)) != 1:
        fail("give exactly one of: a memory id, --query QUERY, or --all")

    async def work(runtime: Runtime) -> dict[str, Any]:
        user_id = await _user_id(runtime, user, create=False)
        service = runtime.memories
        if everything:
            counts = await service.store.count(user_id)
            what = f"all {sum(counts.values())} memories of {user}, their summaries and context reports"
            if conversations:
                what += ", and every conversation"
            if not (yes or typer.confirm(f"Forget {what}? This cannot be undone", default=False)):
                return {"forgotten": 0, "cancelled": True}
            report = await service.forget_all(user_id, conversations=conversations)
            return {"forgotten": report.memories, "threads": report.threads, "summaries": report.summaries}
        if query:
            targets = [h.memory for h in await service.search(user_id, query, limit=limit)]
        else:
            targets = await _by_id(runtime, user_id, memory_id)
        if not targets:
            raise NotFoundError("nothing matches")
        if not as_json:
            _table([_row(m) for m in targets], "to forget")
        if not (yes or typer.confirm(f"Forget these {len(targets)} memories? This cannot be undone", default=False)):
            return {"forgotten": 0, "cancelled": True}
        report = await service.forget(user_id, [m.id for m in targets])
        return {"forgotten": report.memories, "ids": [str(m.id) for m in targets]}

    result = run(_with_runtime(work))
    print_json(result) if as_json else console.print(
        "cancelled; nothing was forgotten" if result.get("cancelled") else f"forgot {result['forgotten']} memories"
    )


async def _by_id(runtime: Runtime, user_id: uuid.UUID, prefix: str) -> list[MemoryRecord]:
    try:
        return [await runtime.memories.store.get(user_id, uuid.UUID(prefix))]
    except ValueError:
        pass
    if len(prefix) < 4:
        raise InvalidInputError("give at least 4 characters of the memory id")
    matches = await runtime.memories.store.fetch(user_id, "id::text LIKE %s", (prefix.lower() + "%",), limit=2)
    if len(matches) > 1:
        raise InvalidInputError(f"{prefix!r} matches several memories; give more of the id")
    return matches


@memory_app.command("reembed")
def reembed(yes: bool = YES_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Embed every memory again with the configured embedder (after changing ASSISTANT_EMBEDDER).

    Example: ASSISTANT_EMBEDDER=openai/text-embedding-3-small ASSISTANT_EMBEDDING_DIM=1536 assistant memory reembed
    """
    from rich.progress import Progress

    from memory.long_term.reembed import reembed_all

    async def work() -> int:
        runtime = await Runtime.start(settings(), chat=False, check_embedder=False)
        try:
            if not (yes or typer.confirm(f"Re-embed every memory with {runtime.memories.embedder.name}?", True)):
                return 0
            with Progress(console=console, disable=as_json) as bar:
                task = bar.add_task("re-embedding", total=None)
                return await reembed_all(
                    runtime.pool,
                    runtime.memories.embedder,
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                )
        finally:
            await runtime.close()

    count = run(work())
    print_json({"reembedded": count}) if as_json else console.print(f"re-embedded {count} memories")
