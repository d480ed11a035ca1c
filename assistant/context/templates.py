"""The headings and notes of ``prompts/context.toml``."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from memory.errors import ConfigError


@dataclass(frozen=True)
class ContextTemplates:
    core_heading: str
    summary_heading: str
    long_term_heading: str
    documents_heading: str
    truncated_note: str

    @classmethod
    def load(cls, prompts_dir: Path) -> ContextTemplates:
        path = prompts_dir / "context.toml"
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            return cls(**{name: str(data[name]) for name in cls.__dataclass_fields__})
        except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"prompt file {path} is missing or incomplete: {exc}") from exc
