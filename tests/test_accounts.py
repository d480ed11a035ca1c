import asyncio
import json

import pytest
from psycopg_pool import AsyncConnectionPool
from typer.testing import CliRunner

from assistant.cli.main import app
from memory.accounts import AccountStore
from memory.errors import InvalidInputError, NotFoundError

runner = CliRunner()


async def test_passwords_verify_without_raising(pool: AsyncConnectionPool) -> None:
    accounts = AccountStore(pool)
    ann = await accounts.add("ann", "correct horse")
    assert (await accounts.verify_password("ann", "correct horse")) == ann
    assert await accounts.verify_password("ann", "wrong horse!") is None
    assert await accounts.verify_password("nobody", "correct horse") is None
    assert await accounts.verify_password("ann", "") is None
    assert await accounts.verify_password("ann", "x" * 5000) is None
    await accounts.add("bob")  # no password: cannot log in
    assert await accounts.verify_password("bob", "anything-at-all") is None
    with pytest.raises(InvalidInputError, match="already exists"):
        await accounts.add("ann", "another one")
    with pytest.raises(InvalidInputError, match="at least 8"):
        await accounts.set_password("bob", "short")
    await accounts.set_password("bob", "long enough")
    assert (await accounts.verify_password("bob", "long enough")) is not None
    with pytest.raises(NotFoundError):
        await accounts.set_password("carol", "long enough")
    async with pool.connection() as conn:
        row = await (await conn.execute("SELECT password_hash FROM users WHERE name = 'ann'")).fetchone()
    assert row and row[0].startswith("$argon2id$") and "correct horse" not in row[0]


async def test_verification_runs_off_the_event_loop(pool: AsyncConnectionPool) -> None:
    accounts = AccountStore(pool)
    await accounts.add("ann", "correct horse")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    task = asyncio.create_task(ticker())
    await asyncio.gather(*(accounts.verify_password("ann", "correct horse") for _ in range(3)))
    task.cancel()
    assert ticks > 3


async def test_tokens_are_hashed_scoped_and_revocable(pool: AsyncConnectionPool) -> None:
    accounts = AccountStore(pool)
    ann, bob = await accounts.add("ann"), await accounts.add("bob")
    token = await accounts.issue_token(ann.id, "editor")
    other = await accounts.issue_token(bob.id)
    assert token != other and token.startswith("asst_")
    assert (await accounts.user_for_token(token)) == ann
    assert (await accounts.user_for_token(other)) == bob
    for bad in ("", "asst_nope", token + "x", token[:-1], None):
        assert await accounts.user_for_token(bad) is None
    async with pool.connection() as conn:
        stored = [r[0] for r in await (await conn.execute("SELECT token_hash FROM api_tokens")).fetchall()]
    assert token not in stored and len(stored) == 2
    (info,) = await accounts.list_tokens(ann.id)
    assert info.label == "editor" and info.last_used_at is not None
    assert await accounts.revoke_tokens(bob.id, info.id) == 0  # not bob's token
    assert await accounts.revoke_tokens(ann.id) == 1
    assert await accounts.user_for_token(token) is None
    assert (await accounts.user_for_token(other)) == bob


@pytest.mark.usefixtures("store_env")
def test_users_commands() -> None:
    added = runner.invoke(app, ["users", "add", "ann", "--password-stdin", "--json"], input="s3cret-pass\n")
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout)["has_password"] is True
    again = runner.invoke(app, ["users", "add", "ann"])
    assert again.exit_code == 1 and "already exists" in again.output
    short = runner.invoke(app, ["users", "passwd", "ann", "--password-stdin"], input="short\n")
    assert short.exit_code == 1 and "at least 8" in short.output
    assert runner.invoke(app, ["users", "passwd", "ann", "--password-stdin"], input="new-secret\n").exit_code == 0
    issued = runner.invoke(app, ["users", "token", "ann", "--label", "mcp"])
    assert issued.exit_code == 0 and "asst_" in issued.stdout
    tokens = json.loads(runner.invoke(app, ["users", "token", "ann", "--list", "--json"]).stdout)
    assert [t["label"] for t in tokens] == ["mcp"]
    second = runner.invoke(app, ["users", "token", "ann", "--json"])
    revoked = runner.invoke(app, ["users", "token", "ann", "--revoke", tokens[0]["id"], "--json"])
    assert second.exit_code == 0 and json.loads(revoked.stdout) == {"revoked": 1}
    assert json.loads(runner.invoke(app, ["users", "token", "ann", "--revoke", "all", "--json"]).stdout) == {
        "revoked": 1
    }
    bad = runner.invoke(app, ["users", "token", "ann", "--revoke", "nope"])
    assert bad.exit_code == 1 and "not a token id" in bad.output
    runner.invoke(app, ["memory", "remember", "I like tea", "--user", "ann"])
    listed = json.loads(runner.invoke(app, ["users", "list", "--json"]).stdout)
    assert [(u["name"], u["has_password"], u["tokens"], u["memories"]) for u in listed] == [("ann", True, 0, 1)]
    kept = runner.invoke(app, ["users", "rm", "ann"], input="n\n")
    assert kept.exit_code == 0 and "nothing was erased" in kept.output
    gone = runner.invoke(app, ["users", "rm", "ann", "--yes"])
    assert gone.exit_code == 0 and "Erased ann" in gone.output
    assert json.loads(runner.invoke(app, ["users", "list", "--json"]).stdout) == []
    missing = runner.invoke(app, ["users", "rm", "ann", "--yes"])
    assert missing.exit_code == 1 and "no user named 'ann'" in missing.output
