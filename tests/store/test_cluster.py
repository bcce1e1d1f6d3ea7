"""Redis Cluster: detection, one slot per script, and a primary that restarts empty.

Against the session's real three-primary cluster (tests/fakes/redis_cluster.py); the
state contract itself runs on it in tests/store/test_state.py.
"""

from __future__ import annotations

import time

import pytest
import redis
from redis.cluster import RedisCluster as ClusterClient
from redis.crc import key_slot

from bot.jobs import Job
from bot.store import redis_keys
from bot.store.redis_keys import SHARD_LIST, shard, shard_of
from bot.store.redis_state import RedisState, connect, is_cluster
from tests.fakes.redis_cluster import RedisCluster


def job(ts: str, channel: str = "C1", thread: str = "100.1", team: str = "T1") -> Job:
    return Job(kind="turn", team=team, channel=channel, thread_ts=thread, ts=ts, user="U1", text=ts)


@pytest.fixture
def cluster_state(redis_cluster_url: str) -> RedisState:
    state = RedisState(connect(redis_cluster_url), lock_ttl=3)
    assert state.claim_epoch()  # a new cluster: claimed, as a first worker would...
    state.replay_done()  # ...and replayed
    return state


def channels_on_two_nodes(cluster: RedisCluster) -> tuple[str, str]:
    """A channel whose shard lives on nodes[0] (the one restarted) and one elsewhere."""
    victim = cluster.nodes[0]
    on = [
        f"C{i}"
        for i in range(200)
        if cluster.node_of(shard(job("1", f"C{i}").session_id).pending) is victim
    ]
    off = [
        f"C{i}"
        for i in range(200)
        if cluster.node_of(shard(job("1", f"C{i}").session_id).pending) is not victim
    ]
    return on[0], off[0]


def test_connect_detects_a_cluster_or_is_told(redis_url: str, redis_cluster_url: str) -> None:
    assert is_cluster(redis_cluster_url) and not is_cluster(redis_url)
    assert isinstance(connect(redis_cluster_url), ClusterClient)
    assert type(connect(redis_url)) is redis.Redis
    assert type(connect(redis_cluster_url, cluster=False)) is redis.Redis  # REDIS_CLUSTER=off
    lazy = RedisState.from_url("redis://127.0.0.1:1/0")  # unreachable: starts, not ready
    with pytest.raises(redis.ConnectionError):
        lazy.ping()


def test_every_key_of_a_thread_and_its_messages_shares_one_slot() -> None:
    for i in range(300):
        sid = job(f"{i}.5", channel=f"C{i % 37}", thread=f"{i}.1", team=f"T{i % 3}").session_id
        at = shard(sid)
        keys = [at.thread(kind, sid) for kind in ("inbox", "lock", "joined", "persona")]
        keys += [at.pending, at.epoch, at.replaying, at.replayed, at.dedup(f"msg:x:{i}")]
        assert len({key_slot(k.encode()) for k in keys}) == 1, keys
    # the shard comes from team + channel, so every thread of a channel shares it
    assert shard_of(job("1", thread="1.1").session_id) == shard_of(
        job("1", thread="2.2").session_id
    )
    assert len({shard_of(job("1", channel=f"C{i}").session_id) for i in range(500)}) == (
        redis_keys.SHARDS
    )


def test_one_message_routed_to_two_threads_of_a_channel_is_accepted_once(
    cluster_state: RedisState,
) -> None:
    keys = ["msg:T1:C1:5.5", "event:Ev1"]
    assert cluster_state.accept(job("5.5", thread="5.5"), keys)
    assert not cluster_state.accept(job("5.5", thread="1.1"), keys[:1])
    assert cluster_state.is_duplicate(job("5.5", thread="9.9"), keys[:1])


def test_a_primary_restarted_empty_replays_its_own_shards_only(
    cluster_state: RedisState, redis_cluster: RedisCluster
) -> None:
    lost_channel, kept_channel = channels_on_two_nodes(redis_cluster)
    lost, kept = job("1.1", lost_channel), job("2.2", kept_channel)
    for one in (lost, kept):
        assert cluster_state.accept(one, [f"msg:{one.channel}:{one.ts}"])
    redis_cluster.restart_node(redis_cluster.nodes[0])

    assert cluster_state.queued(lost.session_id) == []  # gone with its primary
    assert [j.ts for j in cluster_state.queued(kept.session_id)] == ["2.2"]
    assert cluster_state.is_duplicate(kept, [f"msg:{kept_channel}:2.2"])  # still known
    assert not cluster_state.is_duplicate(lost, [f"msg:{lost_channel}:1.1"])  # replayable

    assert not cluster_state.claim_epoch(kept.session_id)  # accept's check: shard intact
    assert cluster_state.claim_epoch(lost.session_id)  # accept's check: shard lost...
    assert not cluster_state.claim_epoch(lost.session_id)  # (one claimer)
    assert not cluster_state.claim_epoch()  # ...and with it every lost shard: one replay
    on_victim = {
        one.number
        for one in SHARD_LIST
        if redis_cluster.node_of(one.pending) is redis_cluster.nodes[0]
    }
    assert cluster_state._claimed == on_victim and 10 < len(on_victim) < 40
    assert cluster_state.replaying(lost.session_id) and cluster_state.replaying()
    assert not cluster_state.replaying(kept.session_id)  # its turns go on meanwhile
    cluster_state.replay_done()
    assert not cluster_state.replaying() and not cluster_state.claim_epoch()


def test_a_lease_survives_its_primary_restarting(
    cluster_state: RedisState, redis_cluster: RedisCluster
) -> None:
    lost_channel, _ = channels_on_two_nodes(redis_cluster)
    sid = job("3.3", lost_channel).session_id
    lease = cluster_state.try_lease(sid)
    lease.start_watchdog()
    redis_cluster.restart_node(redis_cluster.nodes[0], down_seconds=0.5)
    time.sleep(3.5)  # beyond the 3 s TTL: the watchdog took the lock back
    assert not lease.lost.is_set()
    assert cluster_state.try_lease(sid) is None
    lease.stop_watchdog()
    lease.release()
    assert cluster_state.try_lease(sid) is not None


@pytest.mark.parametrize("mode", ["redis", "cluster"])
def test_work_discovery_stays_cheap(mode: str, request: pytest.FixtureRequest) -> None:
    """A worker's sweep (every 2 s): every shard's epoch and pending set, then the locks."""
    url = request.getfixturevalue("redis_url" if mode == "redis" else "redis_cluster_url")
    state = RedisState(connect(url), lock_ttl=30)
    for i in range(100):  # 100 threads with work in 20 channels
        state.accept(job(f"{i}.1", channel=f"C{i % 20}", thread=f"{i}.0"), [f"msg:{i}"])
    state.claim_epoch()
    rounds, started = 50, time.perf_counter()
    for _ in range(rounds):
        state.claim_epoch()
        assert len(state.orphans()) == 100
    per_sweep_ms = (time.perf_counter() - started) / rounds * 1000
    print(f"sweep on {mode}: {per_sweep_ms:.1f} ms ({redis_keys.SHARDS} shards, 100 threads)")
    assert per_sweep_ms < 250
