"""The app on a real 3-master Redis Cluster (``redis+cluster://``): conversations, summaries, forgetting, rate
limits and fact extraction through the job queue work as on one server, and every key of a thread or a user stays in one
hash slot. Keys are checked on each master directly, not only through the cluster client."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool
from redis.crc import key_slot

from assistant.application.facade import Assistant
from assistant.embedded import manager
from assistant.pipeline.turn import TurnFinished
from assistant.providers.base import ChatMessage, ChatModel
from assistant.providers.embedders import HashEmbedder
from assistant.providers.fake import FakeChatModel, default_reply
from assistant.runtime import Runtime
from assistant.settings import Settings
from memory.conversations import Thread
from memory.errors import RateLimitError
from memory.short_term.cluster import StoreRedisCluster
from memory.short_term.connection import RedisClient, open_redis
from memory.short_term.rate_limit import Limits, RateLimiter
from tests.redis_cluster_kit import Node, cluster_ok, running_cluster
from tests.store_scan import scan_redis

MakeRuntime = Callable[..., Runtime]
# Three servers and a few dozen turns on the shared 2-core machine: about half a minute.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster() -> Iterator[list[Node]]:
    with running_cluster(3) as running:
        yield running.masters


@pytest.fixture
def cluster_url(cluster: list[Node]) -> str:
    return "redis+cluster://" + ",".join(node.address for node in cluster[:2])  # two seeds, the third is found


@pytest.fixture
async def cluster_redis(cluster_url: str, redis_prefix: str) -> AsyncIterator[RedisClient]:
    client = await open_redis(cluster_url)
    yield client
    keys = [key async for key in client.scan_iter(match=f"{redis_prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
async def make_cluster_runtime(
    settings: Settings, database_url: str, pool: AsyncConnectionPool, cluster_redis: RedisClient, cluster_url: str
) -> AsyncIterator[MakeRuntime]:
    built: list[Runtime] = []

    def make(model: ChatModel, **overrides: Any) -> Runtime:
        config = settings.model_copy(update={"redis_url": cluster_url, **overrides})
        endpoints = manager.Endpoints(database_url, cluster_url)
        runtime = Runtime.assemble(config, endpoints, pool, cluster_redis, model, HashEmbedder())
        built.append(runtime)
        return runtime

    yield make
    for runtime in built:
        await runtime.drain()


async def _talk(runtime: Runtime, thread: Thread, text: str) -> TurnFinished:
    events = [event async for event in runtime.pipeline.run(thread, text)]
    await runtime.drain()
    finished = events[-1]
    assert isinstance(finished, TurnFinished)
    return finished


def _keys_per_master(nodes: list[Node], pattern: str) -> dict[int, list[str]]:
    """Each master's own keys matching ``pattern`` (SCAN on that node alone)."""
    return {node.port: sorted(node.client().scan_iter(match=pattern, count=500)) for node in nodes}


def _all_keys(nodes: list[Node], pattern: str) -> list[str]:
    return [key for keys in _keys_per_master(nodes, pattern).values() for key in keys]


def _assert_one_slot_per_tag(nodes: list[Node], prefix: str) -> None:
    """Every key under ``prefix`` has a hash tag, and the keys of one tag live in one slot on one master."""
    where: dict[str, set[tuple[int, int]]] = {}
    for port, keys in _keys_per_master(nodes, f"{prefix}:*").items():
        for key in keys:
            found = re.search(r"\{([^}]+)\}", key)
            assert found, f"{key} has no hash tag"
            where.setdefault(found.group(1), set()).add((key_slot(key.encode()), port))
    for tag, places in where.items():
        assert len(places) == 1, f"keys of {{{tag}}} are spread over {places}"


async def test_a_conversation_on_a_cluster_gives_the_model_what_one_server_gives_it(
    make_runtime: MakeRuntime, make_cluster_runtime: MakeRuntime, cluster: list[Node], redis_prefix: str
) -> None:
    single, clustered = FakeChatModel(), FakeChatModel()
    on_one = make_runtime(single, short_term_turns=6, summary_batch=2)
    on_cluster = make_cluster_runtime(clustered, short_term_turns=6, summary_batch=2)
    assert isinstance(on_cluster.redis, StoreRedisCluster)
    # Two users, so that long-term memory of one conversation does not show up in the other.
    ann = await on_one.conversations.ensure_user("ann")
    bob = await on_one.conversations.ensure_user("bob")
    thread_a = await on_one.conversations.create_thread(ann.id)
    thread_b = await on_one.conversations.create_thread(bob.id)
    for turn in range(10):
        await _talk(on_one, thread_a, f"message number {turn}")
        await _talk(on_cluster, thread_b, f"message number {turn}")
    for index, (a, b) in enumerate(zip(single.received, clustered.received, strict=True)):
        assert a == b, f"turn {index}:\n{a}\n---\n{b}"
    assert any("Summary of the earlier part" in m[0].content for m in clustered.received)
    state = await on_cluster.short_term.load(thread_b)
    assert not state.rebuilt and len(state.turns) == 6 and state.summary is not None  # served from the cluster
    assert _all_keys(cluster, f"{redis_prefix}:u:{bob.id}:*")
    _assert_one_slot_per_tag(cluster, redis_prefix)


def _files_hold(nodes: list[Node], marker: str) -> list[str]:
    return [
        str(path)
        for node in nodes
        for path in node.folder.rglob("*")
        if path.is_file() and path.name != "redis.log" and marker.encode() in path.read_bytes()
    ]


async def _files_settled_without(nodes: list[Node], marker: str) -> list[str]:
    """The files on any master that still hold ``marker`` once every append-only rewrite has finished."""
    for _ in range(100):
        infos = [node.client().info("persistence") for node in nodes]
        busy = any(i["aof_rewrite_in_progress"] or i["aof_rewrite_scheduled"] for i in infos)
        holding = _files_hold(nodes, marker)
        if not busy and not holding:
            return []
        await asyncio.sleep(0.1)
    return holding


async def test_forgetting_on_a_cluster_removes_the_keys_from_every_master_and_its_files(
    make_cluster_runtime: MakeRuntime, cluster_redis: RedisClient, cluster: list[Node], redis_prefix: str
) -> None:
    runtime = make_cluster_runtime(FakeChatModel(lambda _messages: "Noted."))  # no reply quotes a recalled memory
    user = await runtime.conversations.ensure_user("ann")
    gone = f"plumgone{uuid.uuid4().int % 10**8}"
    threads = [await runtime.conversations.create_thread(user.id) for _ in range(6)]
    for index, thread in enumerate(threads):
        await _talk(runtime, thread, f"Thread {index}: my locker code is {gone}." if index == 0 else f"Thread {index}")
    user_keys = f"{redis_prefix}:u:{user.id}:*"
    held = {port for port, keys in _keys_per_master(cluster, user_keys).items() if keys}
    while len(held) < 2 and len(threads) < 24:  # a thread's keys hash by its id: six on one master, 1 in 243
        threads.append(await runtime.conversations.create_thread(user.id))
        await _talk(runtime, threads[-1], f"Thread {len(threads) - 1}")
        held = {port for port, keys in _keys_per_master(cluster, user_keys).items() if keys}
    assert len(held) >= 2, f"{len(threads)} threads' keys landed on one master"
    _assert_one_slot_per_tag(cluster, redis_prefix)

    await runtime.memories.delete_thread(user.id, threads[0].id, forget_memories=True)

    assert not _all_keys(cluster, f"{redis_prefix}:*{{t:{threads[0].id}}}*")
    assert _all_keys(cluster, f"{redis_prefix}:*{{t:{threads[1].id}}}*")  # another thread is kept
    assert not await scan_redis(cluster_redis, redis_prefix, gone)  # names and values, on every master
    assert not await _files_settled_without(cluster, gone)

    await runtime.memories.erase_user(user.id)

    assert _keys_per_master(cluster, user_keys) == {node.port: [] for node in cluster}


async def test_clearing_the_fast_state_reaches_every_master(
    make_cluster_runtime: MakeRuntime, cluster: list[Node], redis_prefix: str
) -> None:
    runtime = make_cluster_runtime(FakeChatModel())
    user = await runtime.conversations.ensure_user("ann")
    for _ in range(4):
        await _talk(runtime, await runtime.conversations.create_thread(user.id), "hello")
    count = len(_all_keys(cluster, f"{redis_prefix}:*"))
    assert count >= 8  # a window and its state per thread
    assert await Assistant(runtime).clear_fast_state() == count
    assert not _all_keys(cluster, f"{redis_prefix}:*")


async def test_rate_limits_on_a_cluster(cluster_redis: RedisClient, redis_prefix: str) -> None:
    limiter = RateLimiter(cluster_redis, redis_prefix, Limits(turns_per_minute=2, turns_per_day=0, tokens_per_day=100))
    ann, bob = uuid.uuid4(), uuid.uuid4()
    await limiter.admit_turn(ann)
    await limiter.admit_turn(ann)
    with pytest.raises(RateLimitError, match="this minute"):
        await limiter.admit_turn(ann)
    await limiter.admit_turn(bob)  # another user's counters
    await limiter.spend_tokens(bob, 120)
    assert await limiter.usage(bob) == {"turns_this_minute": 1, "turns_today": 1, "tokens_today": 120}
    with pytest.raises(RateLimitError, match="model tokens"):
        await limiter.admit_turn(bob)


def _extracting(messages: Sequence[ChatMessage]) -> str:
    """The fake model, also extracting one fact per exchange and adding it."""
    system = messages[0].content if messages else ""
    if system.startswith("You read one exchange"):
        said = next(line for line in messages[-1].content.splitlines() if line.startswith("user: "))
        fact = {"text": f"The user said {said.removeprefix('user: ')}", "stated_by": "user", "importance": 0.6}
        return json.dumps({"facts": [fact]})
    if system.startswith("You keep a list of facts"):
        return json.dumps({"action": "add", "reason": "new"})
    return default_reply(messages)


async def test_fact_extraction_on_a_cluster(
    make_cluster_runtime: MakeRuntime, cluster_redis: RedisClient, redis_prefix: str
) -> None:
    """The job queue lives in Postgres (assistant/jobs); on a cluster, extraction works and forgetting drops the
    jobs still waiting, leaving no extraction key on any master."""
    runtime = make_cluster_runtime(FakeChatModel(_extracting), extraction="on")
    user = await runtime.conversations.ensure_user("ann")
    thread = await runtime.conversations.create_thread(user.id)

    await _talk(runtime, thread, "My cat is called Miso.")  # the drain runs the queued job

    facts = await runtime.memories.list_memories(user.id, kinds=["semantic"])
    assert [f.text for f in facts] == ["The user said My cat is called Miso."]

    events = [event async for event in runtime.pipeline.run(thread, "My locker code is 4711.")]
    assert isinstance(events[-1], TurnFinished)
    report = await runtime.memories.forget_all(user.id)  # its jobs had not run yet
    assert report.jobs >= 1
    assert [key async for key in cluster_redis.scan_iter(match=f"{redis_prefix}:*extract*")] == []


async def test_a_conversation_goes_on_through_a_failover(
    settings: Settings, database_url: str, pool: AsyncConnectionPool
) -> None:
    with running_cluster(3, replicas=True) as cluster:
        url = "redis+cluster://" + ",".join(node.address for node in cluster.nodes)
        client = await open_redis(url)
        model = FakeChatModel()
        config = settings.model_copy(update={"redis_url": url, "short_term_turns": 6, "summary_batch": 2})
        runtime = Runtime.assemble(config, manager.Endpoints(database_url, url), pool, client, model, HashEmbedder())
        try:
            user = await runtime.conversations.ensure_user("ann")
            thread = await runtime.conversations.create_thread(user.id)
            for turn in range(3):
                await _talk(runtime, thread, f"message number {turn}")
            window = runtime.short_term.keys.thread(user.id, thread.id, "window")
            slot = key_slot(window.encode())
            master = next(n for n in cluster.masters if int(n.client().cluster("COUNTKEYSINSLOT", slot)))
            replica = cluster.replicas[cluster.masters.index(master)]

            cluster.kill(master)
            await _talk(runtime, thread, "said while the master was down")  # read from Postgres; stored there

            for _ in range(300):
                if replica.client().info("replication")["role"] == "master" and cluster_ok(cluster):
                    break
                await asyncio.sleep(0.1)
            assert replica.client().info("replication")["role"] == "master", "the replica was not promoted"
            await _talk(runtime, thread, "after the failover")
            request = next(r for r in reversed(model.received) if r[-1].content == "after the failover")
            assert "said while the master was down" in "\n".join(m.content for m in request)
            state = await runtime.short_term.load(thread)
            assert not state.rebuilt  # served by the promoted replica again
            stored = [m.content for m in await runtime.conversations.messages(thread)]
            assert [t.content for t in state.turns] == stored[-len(state.turns) :]
        finally:
            await runtime.drain()
            await client.aclose()
