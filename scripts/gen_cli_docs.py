"""Write docs/cli.md: the --help of every `assistant` command, generated from the CLI itself.

Run after changing any command: `.venv/bin/python scripts/gen_cli_docs.py`
(tests/test_cli_docs.py fails while docs/cli.md is out of date; `--check` does the same here).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "cli.md"
WIDTH = 100
HEADER = """# The `assistant` command line

Generated from the CLI by `scripts/gen_cli_docs.py`; do not edit by hand. Every command takes
`--help`. Commands that print data take `--json` (for scripts); data commands take `--user NAME`
(default `local`), and destructive ones ask before they act (`--yes` skips the question).
Errors are one line on stderr and a non-zero exit status.

"""


def _commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    commands = getattr(group, "commands", None) or {}
    for name in sorted(commands):
        found += _commands(commands[name], (*path, name))
    return found


def render() -> str:
    sys.path.insert(0, str(ROOT))
    from assistant.cli.main import app

    root = typer.main.get_command(app)
    runner = CliRunner()
    env = {"COLUMNS": str(WIDTH), "TERMINAL_WIDTH": str(WIDTH), "NO_COLOR": "1", "TERM": "dumb", "FORCE_COLOR": ""}
    parts = [HEADER]
    for path in _commands(root):
        result = runner.invoke(app, [*path, "--help"], env=env, terminal_width=WIDTH)
        if result.exit_code != 0:
            raise SystemExit(f"`assistant {' '.join(path)} --help` failed: {result.output}")
        title = " ".join(("assistant", *path))
        level = "#" * min(2 + len(path), 4)
        text = "\n".join(line.rstrip() for line in result.output.strip("\n").splitlines())
        parts.append(f"{level} `{title}`\n\n```text\n{text}\n```\n\n")
    return "".join(parts).rstrip("\n") + "\n"


def main() -> None:
    text = render()
    if "--check" in sys.argv[1:]:
        if not DOC.exists() or DOC.read_text(encoding="utf-8") != text:
            raise SystemExit("docs/cli.md is out of date: run .venv/bin/python scripts/gen_cli_docs.py")
        return
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
