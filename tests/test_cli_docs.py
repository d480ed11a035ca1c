"""docs/cli.md is generated from the CLI; this fails while it is out of date."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_docs_cli_md_matches_the_help_of_every_command() -> None:
    spec = importlib.util.spec_from_file_location("gen_cli_docs", ROOT / "scripts" / "gen_cli_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    expected = module.render()
    current = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert current == expected, "docs/cli.md is out of date: run .venv/bin/python scripts/gen_cli_docs.py"
    for command in ("assistant memory forget", "assistant users token", "assistant mcp", "assistant context show"):
        assert f"`{command}`" in current
    # Every command's help carries an example.
    sections = current.split("\n#")[1:]
    leaves = [s for s in sections if "Commands ─" not in s]
    assert leaves and all("Example:" in s for s in leaves), [s.splitlines()[0] for s in leaves if "Example:" not in s]
