"""`assistant users add | list | passwd | token | rm`: accounts, passwords and API tokens."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from assistant.cli.common import JSON_OPTION, console, fail, print_json, run
from assistant.cli.scope import YES_OPTION, confirm, parse_uuid, with_assistant

if TYPE_CHECKING:
    from assistant.application.facade import Assistant

users_app = typer.Typer(help="User accounts, passwords and API tokens.", no_args_is_help=True)
STDIN_OPTION = typer.Option(False, "--password-stdin", help="Read the password from the first line of stdin.")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        from memory.errors import AssistantError, describe
        from memory.text_input import decode

        raw = sys.stdin.buffer.readline()
        if not raw:
            fail("no password on stdin")
        try:
            return decode(raw, "the password on stdin").rstrip("\r\n")
        except AssistantError as exc:
            fail(describe(exc))
    from memory.accounts import MIN_PASSWORD_CHARS

    password: str = typer.prompt(
        f"Password (at least {MIN_PASSWORD_CHARS} characters)", hide_input=True, confirmation_prompt=True
    )
    return password


@users_app.command("add")
def add(
    name: str,
    password_stdin: bool = STDIN_OPTION,
    password: bool = typer.Option(False, "--password", "-p", help="Ask for a password (hidden)."),
    display_name: str = typer.Option(None, "--display-name", help="The name shown in the chat."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Create a user, with a password for the web chat if given.

    Example: echo 's3cret-pass' | assistant users add ann --password-stdin
    """
    secret = _read_password(password_stdin) if (password_stdin or password) else None

    async def work(app: Assistant) -> dict[str, Any]:
        user = await app.accounts.add(name, secret, display_name=display_name)
        return {"id": str(user.id), "name": user.name, "has_password": secret is not None}

    row = run(with_assistant(work, check_embedder=False))
    if as_json:
        print_json(row)
        return
    console.print(f"added user {row['name']} ({row['id']})", markup=False)
    if not row["has_password"]:
        console.print(f"no password yet: set one with `assistant users passwd {row['name']}` to log in to the web chat")


@users_app.command("list")
def list_users(as_json: bool = JSON_OPTION) -> None:
    """List every user with whether they have a password, their tokens, threads and memories.

    Example: assistant users list --json
    """

    async def work(app: Assistant) -> list[dict[str, Any]]:
        return [
            {
                "id": str(a.user.id),
                "name": a.user.name,
                "display_name": a.user.display_name,
                "has_password": a.has_password,
                "tokens": a.tokens,
                "threads": a.threads,
                "memories": a.memories,
                "created_at": a.user.created_at.isoformat(),
            }
            for a in await app.accounts.list_users()
        ]

    rows = run(with_assistant(work, check_embedder=False))
    if as_json:
        print_json(rows)
        return
    from rich.markup import escape

    from memory.text_input import shown

    table = Table("name", "id", "password", "tokens", "threads", "memories", "created", title="users")
    for r in rows:
        table.add_row(
            escape(shown(r["name"])),  # a name stored before names were checked may hold control characters
            r["id"][:8],
            "yes" if r["has_password"] else "no",
            str(r["tokens"]),
            str(r["threads"]),
            str(r["memories"]),
            r["created_at"][:10],
        )
    console.print(table)


@users_app.command("passwd")
def passwd(
    name: str,
    password_stdin: bool = STDIN_OPTION,
    remove: bool = typer.Option(False, "--remove", help="Remove the password (no web login)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Set or change a user's password (asked twice, hidden), or remove it.

    Example: assistant users passwd ann
    """
    secret = None if remove else _read_password(password_stdin)

    async def work(app: Assistant) -> None:
        await app.accounts.set_password(name, secret)

    run(with_assistant(work, check_embedder=False))
    done = "removed" if remove else "set"
    print_json({"user": name, "password": done}) if as_json else console.print(f"password of {name} {done}")


@users_app.command("token")
def token(
    name: str,
    label: str = typer.Option("", "--label", "-l", help="What the token is for (e.g. 'claude desktop')."),
    show: bool = typer.Option(False, "--list", help="List the user's tokens instead of issuing one."),
    revoke: str = typer.Option(None, "--revoke", help="Revoke the token with this id ('all' for every one)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Issue an API token for the MCP server over HTTP (shown once; only its hash is stored).

    Example: assistant users token ann --label "my editor"
    """

    async def work(app: Assistant) -> Any:
        user = await app.accounts.get(name)
        if revoke:
            token_id = None if revoke == "all" else parse_uuid(revoke, "token")
            return {"revoked": await app.accounts.revoke_tokens(user.id, token_id)}
        if show:
            return [t.model_dump(mode="json") for t in await app.accounts.list_tokens(user.id)]
        return {"user": user.name, "token": await app.accounts.issue_token(user.id, label)}

    result = run(with_assistant(work, check_embedder=False))
    if as_json:
        print_json(result)
    elif revoke:
        console.print(f"revoked {result['revoked']} token(s)")
    elif show:
        table = Table("id", "label", "created", "last used", "revoked", title=f"tokens of {name}")
        for t in result:
            used, revoked = (t["last_used_at"] or "")[:16], t["revoked_at"] or ""
            table.add_row(t["id"], t["label"], t["created_at"][:16], used, revoked)
        console.print(table)
    else:
        console.print(f"token for {name} (shown only this once; keep it secret):")
        sys.stdout.write(result["token"] + "\n")


@users_app.command("rm")
def rm(name: str, yes: bool = YES_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Erase a user and everything of theirs: conversations, memories, documents, tokens, short-term state.

    Example: assistant users rm ann --yes
    """

    async def work(app: Assistant) -> dict[str, Any]:
        user = await app.accounts.get(name)
        account = next(a for a in await app.accounts.list_users() if a.user.id == user.id)
        what = f"user {name} with {account.threads} conversations and {account.memories} memories"
        if not confirm(f"Erase {what}, for good?", yes):
            return {"erased": False, "cancelled": True}
        report = await app.memories.erase_user(user.id)
        return {"erased": True, "user": name, **report.as_dict(), "message": report.in_words(f"Erased {name} with")}

    result = run(with_assistant(work, check_embedder=False))
    if as_json:
        print_json(result)
    elif result.get("cancelled"):
        console.print("cancelled; nothing was erased")
    else:
        console.print(result["message"])
