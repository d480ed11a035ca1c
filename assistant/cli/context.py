"""`assistant context show`: what the model saw on a turn, tier by tier, with each item's score and reason."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from assistant.cli.common import JSON_OPTION, console, fail, print_json, run
from assistant.cli.scope import USER_OPTION, user_id, with_assistant
from memory.errors import InvalidInputError, NotFoundError

if TYPE_CHECKING:
    from assistant.application.facade import Assistant

context_app = typer.Typer(help="The context report of a reply: what the model saw and why.", no_args_is_help=True)


@context_app.command("show")
def show(
    message_id: str = typer.Argument(None, help="The assistant message's id (or its first characters)."),
    last: bool = typer.Option(False, "--last", help="The newest reply of the user (or of --thread)."),
    thread: str = typer.Option(None, "--thread", "-t", help="With --last: the newest reply in this thread."),
    dropped: bool = typer.Option(False, "--dropped", help="Also list candidates left out for lack of budget."),
    user: str = USER_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Show the context report of a reply: tiers with budget and used tokens, each item with score, reason, source.

    Example: assistant context show --last --user ann
    """
    if bool(message_id) == bool(last):
        fail("give a message id or --last")

    async def work(app: Assistant) -> dict[str, Any]:
        uid = await user_id(app, user, create=False)
        conversations = app.conversations
        if message_id:
            found = await conversations.find_by_prefix(uid, "messages", message_id)
            report = await app.report_for(uid, found)
            if report is None:
                raise NotFoundError(f"message {message_id} has no context report (only assistant replies have one)")
            return report
        if thread:
            chosen = [await conversations.get_thread(uid, await conversations.find_by_prefix(uid, "threads", thread))]
        else:
            chosen = await conversations.list_threads(uid, limit=20)
        report = None
        for candidate in chosen:  # the newest thread may hold no reply yet (e.g. the model failed)
            report = await app.last_report(candidate)
            if report is not None:
                break
        if report is None:
            raise InvalidInputError(f"{user} has no replies yet, so there is no context report")
        return report

    report = run(with_assistant(work, check_embedder=False))
    if as_json:
        print_json(report)
    else:
        render(report, dropped=dropped)


def render(report: dict[str, Any], *, dropped: bool = False) -> None:
    truncated = report.get("truncated")
    console.print(
        f"[bold]context of reply[/bold] with {report['model']}: window {report['window']}, "
        f"budget {report['budget']} (reserve {report['reserve']}, margin {report['margin']}), used {report['used']}"
        + (f"; truncated from {truncated['original_tokens']} tokens" if truncated else ""),
        highlight=False,
    )
    tiers = Table("tier", "budget", "used", "items", "below floor", title="tiers")
    for tier in report["tiers"]:
        below = tier.get("below_floor") or 0
        tiers.add_row(
            tier["name"], str(tier["budget"]), str(tier["used"]), str(len(tier["items"])), str(below) if below else ""
        )
    console.print(tiers)
    for tier in report["tiers"]:
        if tier.get("below_floor"):
            count = tier["below_floor"]
            console.print(f"{tier['name']}: {count} item{'' if count == 1 else 's'} below the relevance floor left out")
    for tier in report["tiers"]:
        for label, items in (("", tier["items"]), (" (dropped)", tier.get("dropped") or [] if dropped else [])):
            if not items:
                continue
            table = Table("kind", "tokens", "score", "reason", "source", "text", title=f"{tier['name']}{label}")
            for item in items:
                score = "" if item.get("score") is None else f"{item['score']:.3f}"
                table.add_row(
                    item["kind"],
                    str(item["tokens"]),
                    score,
                    item.get("reason") or "",
                    _source(item),
                    " ".join(item["text"].split())[:160],
                )
            console.print(table)


def _source(item: dict[str, Any]) -> str:
    if item.get("source"):
        return str(item["source"])
    parts = []
    if item.get("thread_id"):
        parts.append(f"thread {str(item['thread_id'])[:8]}")
    if item.get("message_ids"):
        parts.append("messages " + ", ".join(str(m)[:8] for m in item["message_ids"][:3]))
    return "; ".join(parts)
