"""Redis Cluster (or Valkey cluster): the client for a ``redis+cluster://`` URL, and commands run on every master.

A cluster spreads keys over 16384 hash slots by the text between the first ``{`` and ``}`` of each key (its hash
tag). Every key of one thread carries ``{t:<thread id>}`` and every per-user key ``{u:<user id>}`` (see
``KeySpace``), so a Lua script or a MULTI over one thread's or one user's keys stays on one node. What spans
nodes is left to the client: SCAN runs on every master, and a DEL of keys in several slots is split by slot.
"""

from __future__ import annotations

import re
from typing import Any, cast

from redis.asyncio.cluster import ClusterNode, ClusterPipeline, RedisCluster

from memory.store_faults import redis_faults

SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
# The seed list of a cluster URL: host:port pairs joined by commas, between the credentials and the path.
_SEEDS = re.compile(r"^(?P<scheme>[a-z+]+)://(?P<auth>[^/?#]*@)?(?P<seeds>[^/?#]+)(?P<rest>.*)$", re.IGNORECASE)


def is_cluster_url(url: str) -> bool:
    return url.split("://", 1)[0].lower() in SCHEMES


def split_cluster_url(url: str) -> tuple[str, list[tuple[str, int]]]:
    """A plain ``redis://`` URL of the first seed node (credentials and options kept), and the other seeds."""
    match = _SEEDS.match(url)
    if match is None or match["scheme"].lower() not in SCHEMES:
        raise ValueError("a cluster URL looks like redis+cluster://[user:password@]host:port[,host:port...]")
    seeds = []
    for seed in match["seeds"].split(","):
        host, _, port = seed.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"a cluster seed must be host:port, not {seed.strip()!r}")
        seeds.append((host.strip("[]"), int(port)))
    first_host, first_port = seeds[0]
    host = f"[{first_host}]" if ":" in first_host else first_host
    plain = f"{SCHEMES[match['scheme'].lower()]}://{match['auth'] or ''}{host}:{first_port}{match['rest']}"
    return plain, seeds[1:]


class _StoreClusterPipeline(ClusterPipeline):
    async def execute(self, raise_on_error: bool = True, allow_redirections: bool = True) -> list[Any]:
        async with redis_faults():
            return await super().execute(raise_on_error, allow_redirections)


class StoreRedisCluster(RedisCluster):
    """A cluster client whose connection faults are ``StoreError``, like ``StoreRedis``."""

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        async with redis_faults():
            return await super().execute_command(*args, **kwargs)

    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None) -> ClusterPipeline:
        if shard_hint:
            raise ValueError("shard_hint has no meaning in cluster mode")
        # A transaction (MULTI/EXEC) is sent to the one node of its keys; keys in two slots are refused.
        return _StoreClusterPipeline(self, transaction)  # type: ignore[abstract]  # redis-py sets it at runtime


def open_cluster(url: str, **options: Any) -> StoreRedisCluster:
    plain, more = split_cluster_url(url)
    seeds = [ClusterNode(host, port) for host, port in more]
    return cast(StoreRedisCluster, StoreRedisCluster.from_url(plain, startup_nodes=seeds or None, **options))


def per_master(client: object) -> list[dict[str, Any]]:
    """Keyword arguments that send a server command to each master in turn (``[{}]`` for a single server)."""
    if isinstance(client, RedisCluster):
        return [{"target_nodes": node} for node in client.get_primaries()]
    return [{}]
