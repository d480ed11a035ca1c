"""Prompts live as files in ``prompts/``, not as strings in code."""

from __future__ import annotations

from pathlib import Path

from memory.errors import ConfigError


def load_prompt(prompts_dir: Path, name: str) -> str:
    path = prompts_dir / f"{name}.md"
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"prompt file {path} cannot be read: {exc.strerror}") from exc
