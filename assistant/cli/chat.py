"""`assistant chat`: one message or an interactive loop, through the same turn pipeline as the browser."""

from __future__ import annotations

import asyncio
import io
import logging
import sys
from typing import TYPE_CHECKING

import typer

from assistant.cli.common import err_console, print_json, run, settings
from memory.errors import AssistantError, describe

if TYPE_CHECKING:
    from assistant.application.facade import Assistant
    from memory.conversations import Thread


async def _one_turn(app: Assistant, thread: Thread, text: str, *, stream: bool) -> dict[str, object]:
    from assistant.pipeline.turn import Notice, ReplyDelta, TurnFinished
    from assistant.reply_notes import hit_cap, incomplete_reason, reply_note

    result: dict[str, object] = {}
    note: str | None = None
    async for event in app.turn(thread, text):
        if isinstance(event, Notice):
            err_console.print(f"[yellow]note:[/yellow] {event.text}")
        elif isinstance(event, ReplyDelta) and stream:
            sys.stdout.write(event.text)
            sys.stdout.flush()
        elif isinstance(event, TurnFinished):
            result = {
                "reply": event.reply.content,
                "message_id": str(event.reply.id),
                "thread_id": str(thread.id),
                "cut_off": hit_cap(event.reply),
                "status": event.reply.status,
                "incomplete": incomplete_reason(event.reply),
                "context": event.report.model_dump(mode="json"),
            }
            note = reply_note(event.reply)
    if stream:
        sys.stdout.write("\n")
    if note:
        err_console.print(f"[yellow]note:[/yellow] {note}")
    return result


async def _chat(
    user_name: str, thread_name: str | None, message: str | None, as_json: bool, window: int | None
) -> None:
    from assistant.application.lifecycle import running

    config = settings()
    if window:
        config = config.model_copy(update={"max_input_tokens": window})
    # A message or thread name that will be refused creates no user or thread first.
    from memory import text_input

    if message is not None:
        message = text_input.message(message, max_chars=config.max_message_chars)
    if thread_name is not None:
        thread_name = text_input.name(thread_name, "a thread name")
    # An interactive chat runs long: turns a fault left without episodic memory get it now.
    async with running(config, background="none" if message is not None else "backfill") as app:
        user = await app.conversations.ensure_user(user_name)
        if thread_name:
            thread = await app.conversations.named_thread(user.id, thread_name)
        else:
            thread = await app.conversations.create_thread(user.id)
        if message is not None:
            result = await _one_turn(app, thread, message, stream=not as_json)
            await app.drain()  # the next command sees this turn's summary and memories
            if as_json:
                print_json(result)
            return
        # While a store is down the pool retries in the background, warning on each attempt; the turn's own
        # error line says what matters.
        logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
        err_console.print(f"chatting as {user.name} in thread {thread_name or thread.id}; Ctrl-D to leave")
        if isinstance(sys.stdin, io.TextIOWrapper):
            # A line that is not UTF-8 reaches the input boundary (as surrogates), which refuses that line with a
            # message; the session goes on. Replacing the bytes would send text the user never typed.
            sys.stdin.reconfigure(errors="surrogateescape")
        while True:
            try:
                text = await asyncio.to_thread(input, "you> ")
            except EOFError:
                break
            if not text.strip():
                continue
            try:
                await _one_turn(app, thread, text, stream=True)
            except AssistantError as exc:
                err_console.print(f"[red]error:[/red] {describe(exc)}")
        await app.drain()


def chat(
    message: str = typer.Argument(None, help="Send this one message and exit; omit it for an interactive chat."),
    user: str = typer.Option("local", "--user", "-u", help="User name; created on first use."),
    thread: str = typer.Option(None, "--thread", "-t", help="Thread name; created on first use (default: a new one)."),
    max_input_tokens: int = typer.Option(
        None, "--max-input-tokens", min=256, help="Override the model's input window for this run."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print {reply, message_id, thread_id, context} as JSON."),
) -> None:
    """Chat in the terminal.

    Example: assistant chat --user ann --thread trip "Where did I say we should go?" --json
    """
    if as_json:
        logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    run(_chat(user, thread, message, as_json, max_input_tokens))
