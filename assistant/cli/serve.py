"""`assistant serve`: check the services, then hand over to Chainlit."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import typer

from assistant.cli.common import fail, run, settings

PROJECT_ROOT = Path(__file__).resolve().parents[2]
APP = PROJECT_ROOT / "assistant" / "web" / "app.py"


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def serve(
    host: str = typer.Option(None, help="Address to listen on (default: ASSISTANT_HOST, 127.0.0.1)."),
    port: int = typer.Option(None, help="Port to listen on (default: ASSISTANT_PORT, 8000)."),
) -> None:
    """Serve the chat in the browser.

    Example: assistant serve --port 8000
    """
    from assistant.runtime import prepare_stores
    from assistant.web.secret import auth_secret

    config = settings()
    host = host or config.host
    port = port or config.port
    if not _port_free(host, port):
        fail(f"port {port} on {host} is already in use; stop what uses it or pass --port / set ASSISTANT_PORT")
    run(prepare_stores(config))
    env = dict(os.environ, CHAINLIT_APP_ROOT=str(PROJECT_ROOT))
    # Signs login tokens; generated once and kept in the data directory, so logins survive restarts.
    env.setdefault("CHAINLIT_AUTH_SECRET", auth_secret(config.data_dir))
    if config.auth == "local" and host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"warning: local mode has no login, so anyone who can reach {host}:{port} is you; "
            "set ASSISTANT_AUTH=password to require a login",
            flush=True,
        )
    env.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    env.setdefault("HF_HUB_OFFLINE", "1")
    argv = [sys.executable, "-m", "chainlit", "run", str(APP), "--host", host, "--port", str(port), "--headless"]
    print(f"serving the chat at http://{'localhost' if host in ('127.0.0.1', '0.0.0.0') else host}:{port}", flush=True)
    os.execve(sys.executable, argv, env)
