"""`assistant serve`: check the services, then hand over to Chainlit."""

from __future__ import annotations

import ipaddress
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


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach the address (a name is resolved, so "localhost" counts)."""
    try:
        infos = socket.getaddrinfo(host, None)
    except (OSError, UnicodeError):
        return False
    return bool(infos) and all(ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in infos)


def serve(
    host: str = typer.Option(None, help="Address to listen on (default: ASSISTANT_HOST, 127.0.0.1)."),
    port: int = typer.Option(None, help="Port to listen on (default: ASSISTANT_PORT, 8000)."),
    allow_remote_without_login: bool = typer.Option(
        False,
        "--allow-remote-without-login",
        help="Serve local mode (no login) on a non-loopback address anyway: anyone who reaches it is you.",
    ),
) -> None:
    """Serve the chat in the browser.

    Example: assistant serve --port 8000
    """
    from assistant.runtime import prepare_stores
    from assistant.web.secret import auth_secret

    config = settings()
    host = host or config.host
    port = port or config.port
    if config.auth == "local" and not is_loopback(host):
        if not allow_remote_without_login:
            fail(
                f"local mode has no login, so anyone who can reach {host}:{port} would read and change your memory; "
                "set ASSISTANT_AUTH=password (and add users with `assistant users add`), serve on 127.0.0.1, "
                "or pass --allow-remote-without-login if this network is yours alone"
            )
        print(f"warning: local mode has no login: anyone who can reach {host}:{port} is you", flush=True)
    if not _port_free(host, port):
        fail(f"port {port} on {host} is already in use; stop what uses it or pass --port / set ASSISTANT_PORT")
    run(prepare_stores(config))
    env = dict(os.environ, CHAINLIT_APP_ROOT=str(PROJECT_ROOT))
    # Signs login tokens; generated once and kept in the data directory, so logins survive restarts.
    if "CHAINLIT_AUTH_SECRET" not in env and not config.uses_embedded_postgres:
        print(
            "note: logins are signed with this instance's own secret; where several instances share the database, "
            "set CHAINLIT_AUTH_SECRET to the same value on each (docs/deployment.md)",
            flush=True,
        )
    env.setdefault("CHAINLIT_AUTH_SECRET", auth_secret(config.data_dir))
    env.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    env.setdefault("HF_HUB_OFFLINE", "1")
    argv = [sys.executable, "-m", "chainlit", "run", str(APP), "--host", host, "--port", str(port), "--headless"]
    print(f"serving the chat at http://{'localhost' if host in ('127.0.0.1', '0.0.0.0') else host}:{port}", flush=True)
    os.execve(sys.executable, argv, env)
