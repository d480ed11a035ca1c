"""deploy/ stays in step with the code: every `assistant ...` command the recipes run exists in the CLI (with
the options they pass), every ASSISTANT_* variable they set is a setting, and the nginx template is valid."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml  # type: ignore[import-untyped]  # PyYAML: in the lock as a dependency of dependencies; no stubs

from assistant.cli.main import app
from assistant.settings import Settings
from tests.nginx_proxy import nginx_binary, render

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def _yaml_documents() -> Iterator[tuple[str, Any]]:
    for path in [DEPLOY / "compose.yaml", *sorted((DEPLOY / "k8s").glob("*.yaml"))]:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                yield path.name, doc


def _walk(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key), value
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def _dockerfile_lines() -> list[str]:
    return (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ").splitlines()


def commands_run() -> list[tuple[str, list[str]]]:
    """Every argv the recipes run that starts with `assistant`."""
    found: list[tuple[str, list[str]]] = []
    for name, doc in _yaml_documents():
        for key, value in _walk(doc):
            if key == "command" and isinstance(value, list) and value and value[0] == "assistant":
                found.append((name, [str(v) for v in value]))
    for line in _dockerfile_lines():
        if line.startswith("CMD "):
            found.append(("Dockerfile", json.loads(line[4:])))
    return found


def variables_set() -> list[tuple[str, str]]:
    """Every ASSISTANT_* variable the recipes give a value."""
    found: list[tuple[str, str]] = []
    for name, doc in _yaml_documents():
        for key, value in _walk(doc):
            if key in ("environment", "data", "stringData") and isinstance(value, dict):
                found += [(name, k) for k in value if str(k).startswith("ASSISTANT_")]
            if key == "env" and isinstance(value, list):
                found += [(name, e["name"]) for e in value if str(e.get("name", "")).startswith("ASSISTANT_")]
    for line in _dockerfile_lines():
        if line.startswith("ENV "):
            found += [("Dockerfile", w.split("=")[0]) for w in line[4:].split() if w.startswith("ASSISTANT_")]
    return found


def _resolve(argv: list[str]) -> tuple[Any, list[str]]:
    """The CLI command an argv names (None if a word names nothing), and the options it passes."""
    command: Any = typer.main.get_command(app)  # typer's own click: a group is what has subcommands
    words = argv[1:]
    while hasattr(command, "commands") and words and not words[0].startswith("-"):
        sub = command.commands.get(words[0])
        if sub is None:
            return None, []
        command, words = sub, words[1:]
    return command, [w.split("=")[0] for w in words if w.startswith("-")]


def test_recipes_run_assistant_commands() -> None:
    assert {tuple(argv[1:2]) for _, argv in commands_run()} >= {("serve",), ("db",), ("worker",)}


def test_every_command_exists_with_its_options() -> None:
    for source, argv in commands_run():
        command, options = _resolve(argv)
        assert command is not None and not hasattr(command, "commands"), f"{source}: no command {argv}"
        known = {o for p in command.params for o in [*p.opts, *p.secondary_opts]}
        assert set(options) <= known, f"{source}: {argv} passes options the CLI lacks: {set(options) - known}"


def test_every_variable_is_a_setting() -> None:
    settings = {f"ASSISTANT_{name.upper()}" for name in Settings.model_fields}
    found = variables_set()
    assert found, "the recipes set no ASSISTANT_* variable"
    unknown = [(source, name) for source, name in found if name not in settings]
    assert not unknown, f"variables that are no setting: {unknown}"


@pytest.mark.skipif(nginx_binary() is None, reason="nginx is not installed (scripts/test.sh installs it)")
def test_nginx_template_is_valid(tmp_path: Path) -> None:
    conf = tmp_path / "nginx.conf"
    conf.write_text(render(tmp_path, 18080, ["127.0.0.1:18081", "127.0.0.1:18082"]))
    assert "${" not in conf.read_text()
    checked = subprocess.run(
        [str(nginx_binary()), "-t", "-p", str(tmp_path), "-c", str(conf)], capture_output=True, text=True, timeout=30
    )
    assert checked.returncode == 0, checked.stderr
