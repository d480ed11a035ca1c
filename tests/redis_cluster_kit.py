"""A real Redis Cluster for tests: three masters of the bundled ``redis-server`` on free loopback ports.

Each node runs in cluster mode in its own folder of a temporary directory (its own cluster config file and
append-only log). Slots are split in three with CLUSTER ADDSLOTS, the nodes meet with CLUSTER MEET, and the
cluster is ready when every node reports ``cluster_state:ok`` and knows all three. The processes are stopped
when the context exits, whatever happened inside it.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import redis

from assistant.embedded.redis import find_redis_server

SLOTS = 16384
READY_TIMEOUT_S = 30
BUS_OFFSET = 10000  # a node's cluster bus listens on its port + 10000


@dataclass(frozen=True)
class Node:
    port: int
    folder: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=5, decode_responses=True)


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> list[int]:
    """Ports free on loopback whose cluster bus port (+10000) is free too."""
    chosen: list[int] = []
    while len(chosen) < count:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port + BUS_OFFSET < 65536 and port not in chosen and _free(port + BUS_OFFSET):
            chosen.append(port)
    return chosen


@dataclass
class Cluster:
    """The running nodes: ``masters`` own the slots, ``replicas[i]`` follows ``masters[i]`` (when asked for)."""

    masters: list[Node]
    replicas: list[Node]
    processes: dict[int, subprocess.Popen[bytes]]

    @property
    def nodes(self) -> list[Node]:
        return self.masters + self.replicas

    def kill(self, node: Node) -> None:
        """Kill a node at once (SIGKILL), as a crashed machine would go."""
        self.processes[node.port].kill()
        self.processes[node.port].wait()

    def alive(self) -> list[Node]:
        return [node for node in self.nodes if self.processes[node.port].poll() is None]


def _wait_for(what: str, ready: Callable[[], bool], cluster: Cluster) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if any(cluster.processes[n.port].poll() is not None for n in cluster.alive()):
            raise RuntimeError(f"a cluster node exited; see the logs in {cluster.nodes[0].folder.parent}")
        with contextlib.suppress(redis.RedisError):
            if ready():
                return
        time.sleep(0.1)
    raise RuntimeError(f"the cluster did not reach {what} in {READY_TIMEOUT_S} s")


def cluster_ok(cluster: Cluster) -> bool:
    """Every live node says ``cluster_state:ok`` and sees every master's slots served."""
    infos = [node.client().cluster("info") for node in cluster.alive()]
    return all(i["cluster_state"] == "ok" and int(i["cluster_slots_ok"]) == SLOTS for i in infos)


def _replicas_synced(cluster: Cluster) -> bool:
    return all(node.client().info("replication").get("master_link_status") == "up" for node in cluster.replicas)


@contextlib.contextmanager
def running_cluster(masters: int = 3, *, replicas: bool = False) -> Iterator[Cluster]:
    """Start ``masters`` cluster nodes (and one replica each with ``replicas``), give each master an equal share
    of the slots, and yield the cluster once every node reports it ok."""
    binary = find_redis_server()
    root = Path(tempfile.mkdtemp(prefix="assistant-cluster-"))
    ports = free_ports(masters * (2 if replicas else 1))
    nodes = [Node(port, root / str(port)) for port in ports]
    cluster = Cluster(nodes[:masters], nodes[masters:], {})
    try:
        for node in nodes:
            node.folder.mkdir()
            argv = [str(binary), "--port", str(node.port), "--bind", "127.0.0.1", "--dir", str(node.folder)]
            argv += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
            argv += ["--cluster-node-timeout", "2000", "--appendonly", "yes", "--save", ""]
            argv += ["--logfile", str(node.folder / "redis.log")]
            cluster.processes[node.port] = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for node in nodes:
            _wait_for(f"node {node.address} answering", node.client().ping, cluster)
        share = SLOTS // masters
        for index, node in enumerate(cluster.masters):
            last = SLOTS - 1 if index == masters - 1 else (index + 1) * share - 1
            node.client().cluster("ADDSLOTS", *range(index * share, last + 1))
        for node in nodes[1:]:
            nodes[0].client().cluster("MEET", "127.0.0.1", node.port)
        _wait_for(
            "all nodes known",
            lambda: all(int(n.client().cluster("info")["cluster_known_nodes"]) == len(nodes) for n in nodes),
            cluster,
        )
        for master, replica in zip(cluster.masters, cluster.replicas, strict=False):
            replica.client().cluster("REPLICATE", master.client().cluster("MYID"))
        _wait_for("cluster_state:ok", lambda: cluster_ok(cluster), cluster)
        _wait_for("replicas in sync", lambda: _replicas_synced(cluster), cluster)
        yield cluster
    finally:
        for process in cluster.processes.values():
            process.terminate()
        for process in cluster.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(root, ignore_errors=True)
