"""Redis: the `State` every process shares. Here the queues and leases (dedup, inbox,
wake-ups, thread locks) and what concerns the whole store (forget_team, ping, quick); the
`Recovery` and `Facts` roles are mixed in from bot/store/redis_recovery.py and
bot/store/redis_facts.py.

Works on a single Redis (primary + replicas) and on Redis Cluster (ElastiCache Serverless,
MemoryDB, self-run clusters), with one key layout for both (bot/store/redis_keys.py):
every script touches the keys of one shard, i.e. one hash slot. `connect` detects a cluster
(`INFO cluster`: cluster_enabled:1) unless REDIS_CLUSTER says which it is.

Cluster specifics, and why they are safe:
- wake-ups are one list pushed after accept (not inside the script): a lost push is found
  by the 2 s sweep of the shards' pending sets, as a dead worker's threads are.
- the epoch is per shard: a primary that restarts empty (the others keep their data) loses
  only its shards' epochs; the next claim sees them missing and replays the durable inbox.
  The replay re-queues every recent message, but the intact shards still hold their dedup
  keys, so only the lost ones are queued again (and a handled one is skipped at its turn).
- pipelines over several shards are split per node by redis-py (not atomic): used only for
  reads and for per-shard scripts that are atomic on their own.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections.abc import Callable

import redis
from redis.cluster import RedisCluster
from redis.exceptions import LockError, RedisError

from bot.jobs import DM_THREAD, Job, message_time
from bot.store import redis_scripts as lua
from bot.store.dedup import DEDUP_TTL_SECONDS
from bot.store.redis_connect import Client, connect, is_cluster
from bot.store.redis_facts import RedisFacts
from bot.store.redis_keys import PREFIX, SHARD_LIST, WAKE, shard
from bot.store.redis_recovery import RedisRecovery, each_shard
from bot.store.state import (
    DUPLICATE,
    FULL,
    JOINED_TTL_SECONDS,
    KEPT_ON_UNINSTALL,
    QUEUED,
    team_pattern,
)
from bot.store.thread_lock import Lease, LeaseLost

__all__ = ["Client", "RedisLease", "RedisState", "connect", "is_cluster"]

log = logging.getLogger(__name__)
NUDGE = ""  # a wake-up without work (no session id is empty)

_LOCK = re.compile(re.escape(PREFIX) + r"\{s\d+\}:lock:")
_KEPT = tuple(f"{PREFIX}fact:{name}" for name in KEPT_ON_UNINSTALL)
_BATCH = 1000


def _glob_escape(text: str) -> str:
    """`text` matched literally in a Redis glob (SCAN MATCH)."""
    return re.sub(r"([][*?^\\])", r"\\\1", text)


class RedisLease(Lease):
    def __init__(self, state: RedisState, session_id: str, lock: redis.lock.Lock) -> None:
        super().__init__(session_id, lock.timeout or 30.0)
        self._state = state
        self._lock = lock
        self.token: bytes = lock.local.token  # kept: release() clears the lock's own copy

    def renew(self) -> bool:
        ttl_ms = int(self.ttl * 1000)
        return self._state.renew_script(keys=[self._lock.name], args=[self.token, ttl_ms]) == 1

    def release_if_idle(self) -> bool:
        at = shard(self.session_id)
        keys = [self._lock.name, at.thread("inbox", self.session_id), at.pending]
        result = self._state.release_script(keys=keys, args=[self.token, self.session_id])
        if result == -1:
            self.lost.set()
            raise LeaseLost(f"lock for {self.session_id} was lost before release")
        return result == 1

    def release(self) -> None:
        with contextlib.suppress(LockError):
            self._lock.release()


class RedisState(RedisRecovery, RedisFacts):
    distributed = True

    def __init__(self, client: Client | Callable[[], Client], lock_ttl: float = 30.0) -> None:
        """`client`, or a function that makes one on first use (so a process starts, not
        ready, while Redis is unreachable: connecting to a cluster asks it first)."""
        self.lock_ttl = lock_ttl
        self._url: str | None = None
        self._cluster: bool | None = None
        self._client: Client | None = None
        self._connect = None if isinstance(client, redis.Redis | RedisCluster) else client
        self._connecting = threading.Lock()
        self._guard = threading.Lock()
        self._sweep_at = [0] * len(SHARD_LIST)
        self._claimed: set[int] = set()  # shards whose replay this process owes
        if self._connect is None:
            self._bind(client)  # type: ignore[arg-type]

    @classmethod
    def from_url(cls, url: str, cluster: bool | None = None, lock_ttl: float = 30.0) -> RedisState:
        state = cls(lambda: connect(url, cluster), lock_ttl=lock_ttl)
        state._url, state._cluster = url, cluster
        return state

    def quick(self) -> RedisState:
        """A twin for the ack path: the same Redis through its own short-timeout client
        (`QUICK_TIMEOUT`), sharing this one's replay claims. (The worker's blocking calls,
        BRPOP, keep the long timeouts of this one.)"""
        url = self._url
        if url is None:  # built from a client: no second connection to make
            return self

        def make() -> Client:
            cluster = self._cluster if self._client is None else self.cluster
            return connect(url, cluster, quick=True)

        twin = RedisState(make, lock_ttl=self.lock_ttl)
        twin._url, twin._cluster = url, self._cluster
        twin._guard, twin._claimed = self._guard, self._claimed  # one replay owed, not two
        return twin

    def _bind(self, client: Client) -> None:
        self._accept = client.register_script(lua.ACCEPT)
        self.release_script = client.register_script(lua.RELEASE_IF_IDLE)
        self.renew_script = client.register_script(lua.RENEW)
        self._finish = client.register_script(lua.FINISH)
        self._client = client

    @property
    def client(self) -> Client:
        if self._client is None:
            with self._connecting:
                if self._client is None and self._connect is not None:
                    self._bind(self._connect())
        assert self._client is not None
        return self._client

    @property
    def cluster(self) -> bool:
        return isinstance(self.client, RedisCluster)

    def accept(self, job: Job, dedup_keys: list[str]) -> bool:
        return self.offer(job, dedup_keys) == QUEUED

    def offer(self, job: Job, dedup_keys: list[str], max_queued: int = 0) -> str:
        """See State.offer: `accept`, refusing past `max_queued` jobs in the thread."""
        sid, at = job.session_id, shard(job.session_id)
        client = self.client
        keys = [at.thread("inbox", sid), at.pending, at.thread("joined", sid)]
        keys += [at.dedup(k) for k in dedup_keys]
        when = message_time(job.ts) if job.replayed else None
        cap = 0 if job.replayed else max_queued  # a replayed job was taken once already
        args = [
            job.dumps(),
            sid,
            time.time(),
            DEDUP_TTL_SECONDS,
            JOINED_TTL_SECONDS,
            job.kind,
            "" if when is None else repr(when),
            cap,
        ]
        outcome = self._accept(keys=keys, args=args)  # type: ignore[arg-type]  # str/float/int
        if outcome != 1:
            return FULL if outcome == 2 else DUPLICATE
        pipe = client.pipeline(transaction=False)
        pipe.lpush(WAKE, sid)
        if job.kind == "turn" and job.thread_ts != DM_THREAD:
            pipe.set(
                f"{PREFIX}recent:{job.team}:{job.channel}:{job.user}",
                job.thread_ts,
                ex=JOINED_TTL_SECONDS,
            )
        try:
            pipe.execute()
        except RedisError as exc:  # queued already: the sweep finds it without the wake-up
            log.warning("could not wake a worker for %s: %s", sid, exc)
        return QUEUED

    def is_duplicate(self, job: Job, dedup_keys: list[str]) -> bool:
        at = shard(job.session_id)
        return bool(self.client.exists(*(at.dedup(k) for k in dedup_keys)))

    def wait_for_work(self, timeout: float) -> str | None:
        item = self.client.brpop([WAKE], timeout=max(1, int(timeout)))
        if not item:
            return None
        value = item[1]  # bytes: the client does not decode responses
        value = value.decode() if isinstance(value, bytes) else value
        return value if value != NUDGE else None

    def nudge(self) -> None:
        self.client.lpush(WAKE, NUDGE)

    def queue_stats(self) -> tuple[int, float]:
        """(messages queued in all threads, including those a running turn is answering;
        age in seconds of the oldest of them), (0, 0.0) when none."""
        pending = each_shard(
            self.client,
            lambda pipe, one: pipe.zrange(one.pending, 0, -1, withscores=True),
            SHARD_LIST,
        )
        entries = [(s.decode(), score) for got in pending for s, score in got]
        if not entries:
            return 0, 0.0
        pipe = self.client.pipeline(transaction=False)
        for sid, _ in entries:
            pipe.llen(shard(sid).thread("inbox", sid))
            pipe.lindex(shard(sid).thread("inbox", sid), 0)
        found = pipe.execute()
        count, oldest, now = 0, None, time.time()
        for (_, since), length, head in zip(entries, found[::2], found[1::2], strict=True):
            if not length or head is None:
                continue
            count += length
            at = message_time(Job.loads(head).ts) or since
            oldest = at if oldest is None else min(oldest, at)
        return count, max(0.0, now - oldest) if oldest is not None else 0.0

    def try_lease(self, session_id: str) -> Lease | None:
        lock = self.client.lock(
            shard(session_id).thread("lock", session_id),
            timeout=self.lock_ttl,
            blocking=False,
            thread_local=False,
        )
        if not lock.acquire():
            return None
        return RedisLease(self, session_id, lock)

    def queued(self, session_id: str, limit: int = 50) -> list[Job]:
        raw = self.client.lrange(shard(session_id).thread("inbox", session_id), 0, limit - 1)
        return [Job.loads(item) for item in raw]

    def finish(self, lease: Lease, jobs: list[Job]) -> None:
        assert isinstance(lease, RedisLease)
        at, sid = shard(lease.session_id), lease.session_id
        keys = [at.thread("lock", sid), at.thread("inbox", sid)]
        if self._finish(keys=keys, args=[lease.token, *(job.dumps() for job in jobs)]) == -1:
            lease.lost.set()
            raise LeaseLost(f"lock for {lease.session_id} was lost before finishing")

    def forget_team(self, team: str) -> int:
        """State.forget_team: SCAN every primary for the keys naming the team, delete them
        (one key per command: any slot), and drop its threads from the shards' pending
        sets and the wake-up list."""
        pattern = team_pattern(team)
        pipe = self.client.pipeline(transaction=False)
        for one in SHARD_LIST:
            pipe.zrange(one.pending, 0, -1)
        pending = pipe.execute()
        pipe = self.client.pipeline(transaction=False)
        for one, sids in zip(SHARD_LIST, pending, strict=True):
            for sid in (raw.decode() for raw in sids if pattern.search(raw.decode())):
                pipe.zrem(one.pending, sid)
                pipe.lrem(WAKE, 0, sid)
        names = self._team_keys(team)
        for name in names:
            pipe.delete(name)
            if len(pipe) >= _BATCH:
                pipe.execute()
        pipe.execute()
        return len(names)

    def _team_keys(self, team: str) -> list[str]:
        glob = f"{PREFIX}*:{_glob_escape(team)}[_:]*"
        where = (
            {"target_nodes": RedisCluster.PRIMARIES}
            if isinstance(self.client, RedisCluster)
            else {}
        )
        pattern = team_pattern(team)
        found = {raw.decode() for raw in self.client.scan_iter(match=glob, count=_BATCH, **where)}
        return sorted(
            name
            for name in found
            if pattern.search(name) and not _LOCK.match(name) and not name.startswith(_KEPT)
        )

    def ping(self) -> None:
        client = self.client
        if isinstance(client, RedisCluster):
            client.ping(target_nodes=RedisCluster.PRIMARIES)  # every shard must answer
        else:
            client.ping()
