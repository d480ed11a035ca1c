"""Postgres restarts and Redis is killed, between and during the turns of the pipeline `assistant chat` runs.

After every fault the next turn works in the same process, and every acknowledged message is in Postgres and in
the context the model receives next, exactly once; nothing but a ``StoreError`` escapes (see store_faults_kit).
"""

import asyncio
import shutil
from pathlib import Path

import pytest

from tests.reliability.store_faults_kit import TALLY, Conversation, Scripted, chat_runtime, own_servers

pytestmark = pytest.mark.slow


async def test_postgres_restarts_between_and_during_turns(server_dir: Path) -> None:
    async with own_servers(server_dir) as servers:
        model = Scripted()
        async with chat_runtime(servers, model) as runtime:
            user = await runtime.conversations.ensure_user("ann")
            chat = Conversation(runtime, await runtime.conversations.create_thread(user.id), model)
            for _ in range(3):
                assert await chat.turn()

            # Between turns: every pooled connection is dead; the next turn does not notice.
            await asyncio.to_thread(servers.restart_postgres)
            await chat.check_next_turn()

            # During a turn (while the model answers): the reply is stored on a fresh connection.
            model.during = servers.restart_postgres
            assert await chat.turn()
            await chat.check_next_turn()

            # Down during a turn and still down when the reply is to be stored: the turn fails saying the
            # user's message was saved; once Postgres is back the next turn works.
            model.during = servers.stop_postgres
            assert not await chat.turn()
            assert "your message was saved" in chat.errors[-1]
            await asyncio.to_thread(servers.start_postgres)
            await chat.check_next_turn()

            # Down when the message is sent: it is not saved, and the user is told so.
            await asyncio.to_thread(servers.stop_postgres)
            assert not await chat.turn()
            assert "the database was unreachable" in chat.errors[-1]
            assert "your message was not saved" in chat.errors[-1]
            await asyncio.to_thread(servers.start_postgres)
            await chat.check_next_turn()
            await chat.check_episodic()  # turns whose memory a fault missed were backfilled


async def test_redis_killed_between_and_during_turns(server_dir: Path) -> None:
    async with own_servers(server_dir) as servers:
        model = Scripted()
        async with chat_runtime(servers, model) as runtime:
            user = await runtime.conversations.ensure_user("ann")
            chat = Conversation(runtime, await runtime.conversations.create_thread(user.id), model)
            for _ in range(3):
                assert await chat.turn()

            # Killed and restarted between turns: it comes back from its append-only file.
            await asyncio.to_thread(servers.kill_redis)
            await asyncio.to_thread(servers.start_redis)
            await chat.check_next_turn()

            # Killed during a turn: the reply is stored in Postgres but never reaches the window; the turn
            # finishes anyway, and once Redis is back the window is rebuilt with it.
            model.during = servers.kill_redis
            assert await chat.turn()
            await asyncio.to_thread(servers.start_redis)
            await chat.check_next_turn()

            # Down for whole turns: they run from Postgres alone.
            await asyncio.to_thread(servers.kill_redis)
            assert await chat.turn()
            await chat.check_next_turn()
            await asyncio.to_thread(servers.start_redis)  # back with a window that lacks these turns
            await chat.check_next_turn()
            await chat.check_episodic()


async def test_redis_back_from_an_older_file_is_not_trusted(server_dir: Path) -> None:
    """A Redis restored from an older append-only file (a backup, or writes lost with the machine) holds a
    window marked as built that lacks the latest turns: the window is checked against Postgres and rebuilt."""
    async with own_servers(server_dir) as servers:
        model = Scripted()
        async with chat_runtime(servers, model) as runtime:
            user = await runtime.conversations.ensure_user("ann")
            chat = Conversation(runtime, await runtime.conversations.create_thread(user.id), model)
            for _ in range(2):
                assert await chat.turn()
            await runtime.redis.bgrewriteaof()
            await asyncio.sleep(1.5)  # the rewrite and the once-a-second fsync
            saved = servers.redis_files().with_name("redis-saved")
            shutil.copytree(servers.redis_files(), saved)
            for _ in range(2):
                assert await chat.turn()
            await asyncio.to_thread(servers.kill_redis)
            shutil.rmtree(servers.redis_files())
            shutil.copytree(saved, servers.redis_files())
            await asyncio.to_thread(servers.start_redis)
            await chat.check_next_turn()


def test_print_the_tally() -> None:
    """Last in the module: the totals docs/reliability.md quotes (shown with `pytest -s`)."""
    print(f"\nstore faults: {TALLY['faults']} injected, {TALLY['messages checked']} messages checked")
