"""Where the embedded servers keep data, sockets, pid files and logs."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

from assistant.private_files import private_dir, private_file, tighten
from memory.errors import ConfigError, ServiceError

# sun_path is 108 bytes on Linux; leave room for Postgres' ".s.PGSQL.5432.lock".
_MAX_SOCKET_DIR = 80


@dataclass(frozen=True)
class ServicePaths:
    data_dir: Path

    @property
    def postgres_data(self) -> Path:
        return self.data_dir / "postgres"

    @property
    def redis_data(self) -> Path:
        return self.data_dir / "redis"

    @property
    def logs(self) -> Path:
        return self.data_dir / "logs"

    @property
    def runtime(self) -> Path:
        """Sockets and pid files; moved under /tmp when the data path is too long for a socket."""
        preferred = self.data_dir / "run"
        if len(str(preferred)) <= _MAX_SOCKET_DIR:
            return preferred
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"assistant-{digest}"

    @property
    def postgres_socket_dir(self) -> Path:
        return self.runtime / "pg"

    @property
    def redis_socket(self) -> Path:
        return self.runtime / "redis.sock"

    @property
    def redis_pidfile(self) -> Path:
        return self.runtime / "redis.pid"

    def prepare(self) -> None:
        """Create the directories owner-only (assistant/private_files.py), with one clear error when that
        is not possible; folders and logs an older version left open are closed."""
        for path in (self.data_dir, self.logs, self.runtime):
            try:
                private_dir(path)
            except OSError as exc:
                raise ConfigError(
                    f"cannot create {path}: {exc.strerror}",
                    hint="set ASSISTANT_DATA_DIR to a writable directory",
                ) from exc
        if not os.access(self.data_dir, os.W_OK | os.X_OK):
            raise ConfigError(
                f"data directory {self.data_dir} is not writable",
                hint="set ASSISTANT_DATA_DIR to a writable directory",
            )
        tighten(self.logs)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Serialise starts and stops between processes (app, CLI, tests)."""
        self.prepare()
        with open(private_file(self.runtime / "services.lock"), "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def read_pid(pidfile: Path) -> int | None:
    """The pid in the file's first line if that process is alive, else None."""
    try:
        first = pidfile.read_text().splitlines()[0].strip()
        pid = int(first)
    except (OSError, IndexError, ValueError):
        return None
    return pid if psutil.pid_exists(pid) else None


def require_binary(path: Path, what: str) -> Path:
    if not path.is_file() or not os.access(path, os.X_OK):
        raise ServiceError(
            f"{what} binary not found at {path}",
            hint="run `make run` (or `uv sync`) to install it, or configure a server URL",
        )
    return path
