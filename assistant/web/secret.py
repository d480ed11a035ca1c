"""The secret that signs Chainlit's login tokens: generated once, kept in the data directory."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

SECRET_FILE = "chainlit-auth-secret"


def auth_secret(data_dir: Path) -> str:
    """The stored secret, created (readable by this user only) on first use."""
    path = data_dir / SECRET_FILE
    if path.exists():
        value = path.read_text().strip()
        if value:
            return value
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


def ensure_auth_secret(data_dir: Path) -> None:
    """Put the secret in the environment, where Chainlit reads it, unless one is configured."""
    if not os.environ.get("CHAINLIT_AUTH_SECRET"):
        os.environ["CHAINLIT_AUTH_SECRET"] = auth_secret(data_dir)
