"""`assistant memory forget`: one memory, the matches of a search, or everything (final, asks first)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from assistant.cli.common import JSON_OPTION, console, fail, print_json, run
from assistant.cli.memory_view import find_memory, memory_row, memory_table
from assistant.cli.scope import LIMIT_OPTION, USER_OPTION, YES_OPTION, confirm, user_id, with_assistant

if TYPE_CHECKING:
    from assistant.application.facade import Assistant


async def _forget_all(
    app: Assistant, user: str, *, conversations: bool, documents: bool, yes: bool, quiet: bool
) -> dict[str, Any]:
    uid = await user_id(app, user, create=False)
    counts = await app.memory_counts(uid)
    parts = [f"{sum(counts.values())} memories ({', '.join(f'{n} {k}' for k, n in counts.items()) or 'none'})"]
    parts.append("their rolling summaries and context reports")
    if not conversations:
        parts.append("the text of every conversation turn (the conversations stay, each turn reading “(forgotten)”)")
    if conversations:
        parts.append(f"{len(await app.conversations.list_threads(uid, limit=100_000))} conversations")
    if documents:
        parts.append(f"{len(await app.documents.list(uid))} documents")
    if not quiet:
        console.print(f"to forget for {user}: " + "; ".join(parts))
    if not confirm("Forget all of this? This cannot be undone", yes):
        return {"forgotten": 0, "cancelled": True}
    report = await app.memories.forget_all(uid, conversations=conversations)
    removed_documents = await app.documents.remove_all(uid) if documents else 0
    message = report.in_words() + (f" Removed {removed_documents} documents." if documents else "")
    return {"forgotten": report.memories, **report.as_dict(), "documents": removed_documents, "message": message}


def forget(
    memory_id: str = typer.Argument(None, help="The memory's id (or its first characters)."),
    query: str = typer.Option(
        None, "--query", "-q", help="Forget the memories that match these words or are close in meaning."
    ),
    everything: bool = typer.Option(
        False, "--all", help="Forget every memory, summary and context report, and the text of every turn."
    ),
    conversations: bool = typer.Option(False, "--conversations", help="With --all: delete the conversations too."),
    documents: bool = typer.Option(False, "--documents", help="With --all: delete the uploaded documents too."),
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
    if (conversations or documents) and not everything:
        fail("--conversations and --documents go with --all")

    async def work(app: Assistant) -> dict[str, Any]:
        if everything:
            return await _forget_all(
                app, user, conversations=conversations, documents=documents, yes=yes, quiet=as_json
            )
        uid = await user_id(app, user, create=False)
        service = app.memories
        if query:
            # Only memories that match (shared words, or close enough in meaning): the recall commands' floor.
            targets = [h.memory for h in await service.search(uid, query, limit=limit)]
            if not targets:
                return {"forgotten": 0, "ids": [], "nothing_matched": query}
        else:
            targets = [await find_memory(app, uid, memory_id)]
        if not as_json:
            memory_table([memory_row(m) for m in targets], "to forget")
            if also := (await service.forget_preview(uid, [m.id for m in targets])).in_words():
                console.print(also)
        if not confirm(f"Forget these {len(targets)} memories? This cannot be undone", yes):
            return {"forgotten": 0, "cancelled": True}
        report = await service.forget(uid, [m.id for m in targets])
        return {
            "forgotten": report.memories,
            "ids": [str(m.id) for m in targets],
            **report.as_dict(),
            "message": report.in_words(),
        }

    result = run(with_assistant(work))
    if as_json:
        print_json(result)
    elif result.get("cancelled"):
        console.print("cancelled; nothing was forgotten")
    elif "nothing_matched" in result:
        console.print(f"no memory matches {query!r}; nothing was forgotten", highlight=False)
    else:
        console.print(result["message"])
