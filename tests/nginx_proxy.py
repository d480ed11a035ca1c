"""nginx (Debian's package) in front of app instances, from deploy/nginx/assistant.conf.template, as this user."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from string import Template

NGINX_TEMPLATE = Path(__file__).resolve().parents[1] / "deploy" / "nginx" / "assistant.conf.template"
UPSTREAM_HEADER = "x-assistant-upstream"


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)


def render(run_dir: Path, listen: int, upstreams: list[str]) -> str:
    """The template filled in (nginx's own $variables are left alone)."""
    servers = "\n        ".join(f"server {u} max_fails=1 fail_timeout=5s;" for u in upstreams)
    mapping = {"LISTEN": f"127.0.0.1:{listen}", "UPSTREAM_SERVERS": servers, "RUN_DIR": str(run_dir)}
    return Template(NGINX_TEMPLATE.read_text()).safe_substitute(mapping)


@dataclass
class Nginx:
    """One nginx master in the foreground (its own process group), with its pid, logs and temp files in run_dir."""

    run_dir: Path
    port: int
    upstreams: list[str]
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = nginx_binary()
        assert binary, "nginx is not installed"
        self.run_dir.mkdir(parents=True, exist_ok=True)
        conf = self.run_dir / "nginx.conf"
        conf.write_text(render(self.run_dir, self.port, self.upstreams))
        self.process = subprocess.Popen(
            [binary, "-p", str(self.run_dir), "-c", str(conf), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=(self.run_dir / "stderr.log").open("ab"),
            start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited: {(self.run_dir / 'stderr.log').read_text()[-2000:]}")
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        raise RuntimeError("nginx did not listen")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
