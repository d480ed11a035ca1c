"""`assistant memory ...`: see and control what the assistant remembers (through the memory service)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from assistant.cli.common import JSON_OPTION, console, fail, print_json, run
from assistant.cli.memory_forget import forget
from assistant.cli.memory_io import export, import_file, reembed
from assistant.cli.memory_view import event_row, event_table, find_event, find_memory, memory_row, memory_table
from assistant.cli.scope import AS_OF_OPTION, LIMIT_OPTION, USER_OPTION, parse_when, user_id, with_assistant
from memory.text_input import memory_text

if TYPE_CHECKING:
    from assistant.application.facade import Assistant

memory_app = typer.Typer(help="See and control what the assistant remembers.", no_args_is_help=True)
memory_app.command("forget")(forget)
memory_app.command("export")(export)
memory_app.command("import")(import_file)
memory_app.command("reembed")(reembed)


@memory_app.command("search")
def search(
    query: str,
    user: str = USER_OPTION,
    limit: int = LIMIT_OPTION,
    as_of: str = AS_OF_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Search every kind of memory (turns, facts, pinned) for what matches: its words, or close in meaning.

    Example: assistant memory search "where does my sister live" --user ann -n 5
    """
    when = parse_when(as_of)

    async def work(app: Assistant) -> list[dict[str, Any]]:
        uid = await user_id(app, user, create=False)
        if when is not None:
            hits = await app.memories.search_as_of(uid, query, when, limit=limit)
        else:
            hits = await app.memories.search(uid, query, limit=limit)
        return [memory_row(h.memory, h.score) for h in hits]

    rows = run(with_assistant(work))
    if as_json:
        print_json(rows)
    elif not rows:
        console.print(f"no memory matches {query!r} (none shares its words or is close in meaning)", highlight=False)
    else:
        memory_table(rows, f"memories matching {query!r}")


@memory_app.command("list")
def list_memories(
    user: str = USER_OPTION,
    limit: int = LIMIT_OPTION,
    as_of: str = AS_OF_OPTION,
    kind: str = typer.Option(None, "--kind", help="Only this kind: episodic (turns), semantic (facts) or pinned."),
    history: bool = typer.Option(False, "--history", help="Include versions that are no longer current."),
    as_json: bool = JSON_OPTION,
) -> None:
    """List memories, newest first: current ones, or what was current at --as-of.

    Example: assistant memory list --user ann --kind pinned -n 20 --json
    """
    if kind not in (None, "episodic", "semantic", "pinned"):
        fail(f"--kind is episodic, semantic or pinned, not {kind!r}")
    when = parse_when(as_of)

    async def work(app: Assistant) -> list[dict[str, Any]]:
        uid = await user_id(app, user, create=False)
        memories = await app.list_memories(
            uid,
            kind=kind,  # type: ignore[arg-type]  # checked above
            include_history=history,
            as_of=when,
            limit=limit,
        )
        return [memory_row(m) for m in memories]

    rows = run(with_assistant(work))
    print_json(rows) if as_json else memory_table(rows, f"memories of {user}" + (f" as of {as_of}" if as_of else ""))


@memory_app.command("show")
def show(memory_id: str, user: str = USER_OPTION, as_of: str = AS_OF_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Show one memory: where it came from (the messages) and its versions; --as-of picks the version then.

    Example: assistant memory show 3f2a9c01 --user ann
    """
    when = parse_when(as_of)

    async def work(app: Assistant) -> dict[str, Any]:
        uid = await user_id(app, user, create=False)
        memory = await find_memory(app, uid, memory_id)
        detail = await app.memories.show(uid, memory.id)
        chosen = detail.memory
        if when is not None:
            then = [v for v in detail.versions if v.valid_from <= when and (v.valid_to is None or v.valid_to > when)]
            if not then:
                fail(f"no version of memory {memory_id} was current at {when.isoformat()}")
            chosen = then[0]
        return {
            "memory": memory_row(chosen),
            "sources": [m.model_dump(mode="json", exclude={"user_id", "usage"}) for m in detail.sources],
            "versions": [memory_row(v) for v in detail.versions],
            "events": [event_row(e) for e in detail.events],
        }

    data = run(with_assistant(work))
    if as_json:
        print_json(data)
        return
    memory = data["memory"]
    table = Table(show_header=False, title=f"memory {memory['id']}")
    for key in ("kind", "text", "pinned", "came_from", "speaker", "said_at", "valid_from", "valid_to", "importance"):
        table.add_row(key.replace("_", " "), str(memory[key]) if memory[key] is not None else "")
    console.print(table)
    sources = Table("message", "when", "who", "content", title="came from")
    for m in data["sources"]:
        sources.add_row(m["id"][:8], m["created_at"][:19], m["speaker"] or m["role"], m["content"][:200])
    console.print(sources if data["sources"] else "came from: no stored message (stated directly or imported)")
    versions = Table("id", "text", "valid from", "valid to", title="versions (newest first)")
    for v in data["versions"]:
        versions.add_row(v["id"][:8], v["text"][:160], v["valid_from"][:19], (v["valid_to"] or "current")[:19])
    console.print(versions)


@memory_app.command("history")
def history(
    memory_id: str,
    user: str = USER_OPTION,
    limit: int = typer.Option(100, "-n", "--limit", min=1, help="How many events to show."),
    as_of: str = AS_OF_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """The audit trail of a memory and all its versions: adds, edits, pins, undos (undo them by event id).

    Example: assistant memory history 3f2a9c01 --user ann
    """
    when = parse_when(as_of)

    async def work(app: Assistant) -> list[dict[str, Any]]:
        uid = await user_id(app, user, create=False)
        memory = await find_memory(app, uid, memory_id)
        events = await app.memories.history(uid, memory.id)
        return [event_row(e) for e in events if when is None or e.created_at <= when][-limit:]

    rows = run(with_assistant(work))
    print_json(rows) if as_json else event_table(rows, f"history of memory {memory_id}")


@memory_app.command("remember")
def remember(text: str, user: str = USER_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Store a pinned memory: always in context, ahead of recalled ones. Text already remembered (the same
    words, whatever the case and spacing) updates that memory instead: --json says "created": false.

    Example: assistant memory remember "I am vegetarian" --user ann
    """

    async def work(app: Assistant) -> tuple[dict[str, Any], str]:
        memory_text(text)  # a text that will be refused creates no user first
        uid = await user_id(app, user, create=True)
        remembered = await app.memories.remember(uid, text, reason="stated with the CLI", origin="cli")
        return memory_row(remembered), remembered.outcome

    row, outcome = run(with_assistant(work))
    print_json(row) if as_json else console.print(f"{outcome.capitalize()}: {row['id']}: {row['text']}", markup=False)


@memory_app.command("edit")
def edit(memory_id: str, text: str, user: str = USER_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Replace a memory's text; the old version is kept in its history (undo with `memory undo`).

    Example: assistant memory edit 3f2a9c01 "I live in Lisbon" --user ann
    """

    async def work(app: Assistant) -> dict[str, Any]:
        uid = await user_id(app, user, create=False)
        memory = await find_memory(app, uid, memory_id)
        return memory_row(await app.memories.edit(uid, memory.id, text))

    row = run(with_assistant(work))
    print_json(row) if as_json else console.print(f"edited: new version {row['id']}: {row['text']}")


@memory_app.command("pin")
def pin(
    memory_id: str,
    user: str = USER_OPTION,
    unpin: bool = typer.Option(False, "--unpin", help="Unpin instead: recalled only when relevant."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Pin a memory so it is in context every turn (or --unpin it).

    Example: assistant memory pin 3f2a9c01 --user ann
    """

    async def work(app: Assistant) -> dict[str, Any]:
        uid = await user_id(app, user, create=False)
        memory = await find_memory(app, uid, memory_id)
        return memory_row(await app.memories.set_pinned(uid, memory.id, not unpin))

    row = run(with_assistant(work))
    print_json(row) if as_json else console.print(f"{'unpinned' if unpin else 'pinned'} {row['id']}: {row['text']}")


@memory_app.command("undo")
def undo(event_id: str, user: str = USER_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Undo a change by its event id (from `memory history` or `memory show`); forgetting cannot be undone.

    Example: assistant memory undo 9c1e77d2 --user ann
    """

    async def work(app: Assistant) -> dict[str, Any]:
        uid = await user_id(app, user, create=False)
        return event_row(await app.memories.undo(uid, await find_event(app, uid, event_id)))

    row = run(with_assistant(work))
    print_json(row) if as_json else console.print(f"undid {row['action']} of memory {row['memory_id']}")
