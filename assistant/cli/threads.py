"""`assistant threads list | show | export | rm`: the stored conversations of a user."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.table import Table

from assistant.cli.common import JSON_OPTION, console, print_json, run, write_output
from assistant.cli.scope import LIMIT_OPTION, USER_OPTION, YES_OPTION, confirm, user_id, with_assistant

if TYPE_CHECKING:
    from assistant.application.facade import Assistant

threads_app = typer.Typer(help="The stored conversations (threads) of a user.", no_args_is_help=True)


async def _thread(app: Assistant, user: str, reference: str) -> tuple[uuid.UUID, uuid.UUID]:
    uid = await user_id(app, user, create=False)
    return uid, await app.conversations.find_by_prefix(uid, "threads", reference)


@threads_app.command("list")
def list_threads(user: str = USER_OPTION, limit: int = LIMIT_OPTION, as_json: bool = JSON_OPTION) -> None:
    """List the user's conversations, most recently active first; temporary chats are listed apart.

    Example: assistant threads list --user ann -n 20
    """

    async def work(app: Assistant) -> list[dict[str, Any]]:
        uid = await user_id(app, user, create=False)
        temporary = await app.conversations.temporary_threads(uid)
        rows = []
        for thread in await app.conversations.list_threads(uid, limit=limit):
            row = thread.model_dump(mode="json", exclude={"user_id"})
            row["messages"] = await app.conversations.count_messages(thread)
            row["temporary"] = thread.id in temporary
            rows.append(row)
        return rows

    rows = run(with_assistant(work, check_embedder=False))
    if as_json:
        print_json(rows)
        return
    for temporary, title in ((False, f"conversations of {user}"), (True, "temporary chats (nothing remembered)")):
        chosen = [r for r in rows if r["temporary"] == temporary]
        if temporary and not chosen:
            continue
        table = Table("id", "title", "name", "messages", "last active", title=title)
        for r in chosen:
            active = r["updated_at"][:16].replace("T", " ")
            table.add_row(r["id"][:8], (r["title"] or "")[:60], r["name"] or "", str(r["messages"]), active)
        console.print(table)


@threads_app.command("show")
def show(
    thread_id: str,
    user: str = USER_OPTION,
    limit: int = typer.Option(50, "-n", "--limit", min=1, help="How many of the newest messages to show."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Show a conversation's newest messages (ids lead to `assistant context show`).

    Example: assistant threads show 5d1c02aa --user ann -n 20
    """

    async def work(app: Assistant) -> dict[str, Any]:
        uid, tid = await _thread(app, user, thread_id)
        thread = await app.conversations.get_thread(uid, tid)
        messages = await app.conversations.messages(thread, last=limit)
        return {
            "thread": thread.model_dump(mode="json", exclude={"user_id"}),
            "messages": [m.model_dump(mode="json", exclude={"user_id"}) for m in messages],
        }

    data = run(with_assistant(work, check_embedder=False))
    if as_json:
        print_json(data)
        return
    thread = data["thread"]
    table = Table("id", "when", "who", "message", title=f"{thread['title'] or 'conversation'} ({thread['id']})")
    for m in data["messages"]:
        why = (m["usage"] or {}).get("incomplete") if m["status"] == "partial" else None  # stopped, cut, stalled
        mark = f"{m['status']}: {why}" if why else m["status"]
        status = ("" if m["status"] in ("complete", "forgotten") else f" [{mark}]") + (
            " [private]" if m["private"] else ""
        )
        # Escaped: a message's own brackets, and the marks, are text, not Rich markup.
        table.add_row(m["id"][:8], m["created_at"][:16], m["speaker"] or m["role"], escape(m["content"] + status))
    console.print(table)


@threads_app.command("export")
def export(
    thread_id: str,
    file: str = typer.Argument("-", help="Where to write (default: standard output)."),
    user: str = USER_OPTION,
    markdown: bool = typer.Option(False, "--markdown", help="A readable transcript instead of JSON Lines."),
) -> None:
    """Export one conversation: JSON Lines (importable with `memory import`) or a Markdown transcript.

    Example: assistant threads export 5d1c02aa trip.md --markdown --user ann
    """

    async def work(app: Assistant) -> list[dict[str, Any]]:
        uid, tid = await _thread(app, user, thread_id)
        return await app.portability.thread_lines(uid, tid)

    lines = run(with_assistant(work, check_embedder=False))
    if markdown:
        head = lines[0]
        text = f"# {head['title'] or 'Conversation'}\n\n" + "".join(
            f"**{m['speaker'] or m['role']}** ({m['created_at'][:16].replace('T', ' ')})"
            f"{' 🔒 private' if m.get('private') else ''}:\n\n{m['content']}\n\n"
            for m in lines[1:]
        )
    else:
        text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    if not write_output(file, text):
        return
    console.print(f"exported {len(lines) - 1} messages to {file}")


@threads_app.command("rm")
def rm(
    thread_id: str,
    user: str = USER_OPTION,
    keep_facts: bool = typer.Option(False, "--keep-facts", help="Keep the facts learned in it (turns still go)."),
    yes: bool = YES_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Delete a conversation, its messages, and the memories drawn from it (asks first).

    Example: assistant threads rm 5d1c02aa --user ann --yes
    """

    async def work(app: Assistant) -> dict[str, Any]:
        uid, tid = await _thread(app, user, thread_id)
        thread = await app.conversations.get_thread(uid, tid)
        count = await app.conversations.count_messages(thread)
        facts = [] if keep_facts else await app.memories.from_thread(uid, tid)
        what = f"conversation {thread.title or thread.id} with {count} messages" + (
            f" and {len(facts)} facts learned from it" if facts else ""
        )
        if not confirm(f"Delete {what}? This cannot be undone", yes):
            return {"deleted": False, "cancelled": True}
        report = await app.memories.delete_thread(uid, tid, forget_memories=not keep_facts)
        return {
            "deleted": True,
            "thread": str(tid),
            "messages": count,
            "memories_forgotten": report.memories,
            "turns_forgotten_elsewhere": report.turns,
            "reports_redacted": report.reports,
        }

    result = run(with_assistant(work, check_embedder=False))
    if as_json:
        print_json(result)
    elif result.get("cancelled"):
        console.print("cancelled; nothing was deleted")
    else:
        elsewhere = result["turns_forgotten_elsewhere"]
        console.print(
            f"deleted the conversation ({result['messages']} messages, {result['memories_forgotten']} memories"
            + (f"; {elsewhere} turns in other conversations they came from now read “(forgotten)”" if elsewhere else "")
            + ")"
        )
