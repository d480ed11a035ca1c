"""What every command shares: settings, running coroutines, one-line errors, JSON output."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer
from rich.console import Console

from assistant.private_files import write_private
from memory.errors import AssistantError, describe

if TYPE_CHECKING:
    from assistant.settings import Settings

T = TypeVar("T")

console = Console()
err_console = Console(stderr=True)

JSON_OPTION = typer.Option(False, "--json", help="Print JSON for scripts instead of tables.")


def settings() -> Settings:
    from assistant.settings import Settings

    try:
        return Settings()
    except Exception as exc:
        fail(f"invalid settings: {exc}".splitlines()[0])


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine; an ``AssistantError`` becomes one line on stderr and exit status 1."""
    try:
        return asyncio.run(coro)
    except AssistantError as exc:
        fail(describe(exc))


def fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def check_argv(arguments: list[str]) -> None:
    """Refuse command-line arguments that are not valid UTF-8 (Python hands their bytes over as surrogates);
    runs before Typer, so it exits by itself (status 2, as for any bad usage)."""
    from memory.text_input import check_unicode

    for number, argument in enumerate(arguments, 1):
        try:
            check_unicode(argument, f"command-line argument {number}")
        except AssistantError as exc:
            err_console.print(f"[red]error:[/red] {describe(exc)}", highlight=False, soft_wrap=True)
            sys.exit(2)


def read_text(file: str, what: str) -> str:
    """A file, or standard input for ``-``, as UTF-8 text; an unreadable or non-UTF-8 one exits with one line."""
    from memory.text_input import decode

    try:
        data = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
        return decode(data, what)
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror}")
    except AssistantError as exc:
        fail(describe(exc))


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


def write_output(file: str, text: str) -> bool:
    """Write ``text`` to ``file``, or to standard output when ``file`` is ``-``; True when a file was written."""
    if file == "-":
        sys.stdout.write(text)
        return False
    try:
        write_private(Path(file), text.encode("utf-8"))  # an export holds the user's conversations: 0600
    except OSError as exc:
        fail(f"cannot write {file}: {exc.strerror}")
    return True
