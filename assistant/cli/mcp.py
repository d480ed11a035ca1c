"""`assistant mcp`: serve the user's memory to other AI tools over the Model Context Protocol."""

from __future__ import annotations

from typing import Literal

import typer

from assistant.cli.common import err_console, run, settings


def mcp(
    transport: str = typer.Option("stdio", "--transport", help="stdio (launched by a client) or http."),
    user: str = typer.Option(
        "local", "--user", "-u", envvar="ASSISTANT_MCP_USER", help="stdio: whose memory it serves (created if new)."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="http: the address to listen on."),
    port: int = typer.Option(8765, "--port", help="http: the port to listen on.", min=1, max=65535),
) -> None:
    """Serve memory to other AI tools over MCP: search, remember, forget, list, get_context; resources.

    stdio serves one user: --user, or ASSISTANT_MCP_USER (for clients that launch `assistant mcp`).

    HTTP (streamable, at /mcp) needs `Authorization: Bearer TOKEN` (from `assistant users token USER`).

    Each HTTP request acts only for its token's user; naming another user is refused.

    Example: assistant mcp --transport http --port 8765
    """
    from assistant.mcp.server import serve

    if transport not in ("stdio", "http"):
        err_console.print(f"[red]error:[/red] --transport is stdio or http, not {transport!r}", highlight=False)
        raise typer.Exit(1)
    chosen: Literal["stdio", "http"] = "stdio" if transport == "stdio" else "http"
    if chosen == "http":
        err_console.print(f"MCP server on http://{host}:{port}/mcp (bearer tokens: `assistant users token USER`)")
    run(serve(settings(), chosen, user=user, host=host, port=port))
