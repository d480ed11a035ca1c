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
from collections.abc import Iterator
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


def _wait_ready(nodes: list[Node], processes: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes):
            raise RuntimeError(f"a cluster node exited; see the logs in {nodes[0].folder.parent}")
        with contextlib.suppress(redis.RedisError):
            infos = [node.client().cluster("info") for node in nodes]
            if all(i["cluster_state"] == "ok" and int(i["cluster_known_nodes"]) == len(nodes) for i in infos):
                return
        time.sleep(0.1)
    raise RuntimeError(f"the cluster did not reach cluster_state:ok in {READY_TIMEOUT_S} s")


@contextlib.contextmanager
def running_cluster(masters: int = 3) -> Iterator[list[Node]]:
    """Start ``masters`` cluster nodes, give each a third of the slots, and yield them once the cluster is ok."""
    binary = find_redis_server()
    root = Path(tempfile.mkdtemp(prefix="assistant-cluster-"))
    nodes = [Node(port, root / str(port)) for port in free_ports(masters)]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for node in nodes:
            node.folder.mkdir()
            argv = [str(binary), "--port", str(node.port), "--bind", "127.0.0.1", "--dir", str(node.folder)]
            argv += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
            argv += ["--cluster-node-timeout", "2000", "--appendonly", "yes", "--save", ""]
            argv += ["--logfile", str(node.folder / "redis.log")]
            processes.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for node in nodes:
            deadline = time.monotonic() + READY_TIMEOUT_S
            while not _answers(node):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"cluster node {node.address} did not start")
                time.sleep(0.05)
        share = SLOTS // masters
        for index, node in enumerate(nodes):
            last = SLOTS - 1 if index == masters - 1 else (index + 1) * share - 1
            node.client().cluster("ADDSLOTS", *range(index * share, last + 1))
        for node in nodes[1:]:
            nodes[0].client().cluster("MEET", "127.0.0.1", node.port)
        _wait_ready(nodes, processes)
        yield nodes
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(root, ignore_errors=True)


def _answers(node: Node) -> bool:
    try:
        return bool(node.client().ping())
    except redis.RedisError:
        return False
