"""Redis: the one module that talks to Redis (dedup, inbox, thread locks, thread facts).

Per-thread keys carry a hash tag `{session_id}`, but the scripts also touch the global
pending/wake/dedup keys, so this needs a single Redis (primary + replicas), not Cluster.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid

import redis
from redis.exceptions import LockError

from bot.dedup import DEDUP_TTL_SECONDS
from bot.jobs import DM_THREAD, Job, message_time
from bot.store.state import JOINED_TTL_SECONDS, REPLAY_PAUSE_SECONDS
from bot.thread_lock import Lease, LeaseLost

log = logging.getLogger(__name__)
PREFIX = "tsb:"
PENDING = PREFIX + "pending"
WAKE = PREFIX + "wake"
EPOCH = PREFIX + "epoch"  # set once; its absence means Redis lost its data (or is new)
REPLAYING = PREFIX + "replaying"  # turns wait while the durable inbox is queued again
REPLAYED = PREFIX + "replayed"  # ... until this says it was

# KEYS: inbox, pending, wake, joined, dedup...
# ARGV: job, session_id, now, dedup ttl, joined ttl, job kind (only turns join a thread),
#       the message's time if it is replayed from the durable inbox, else ''
# A replayed job goes before the queued jobs of later messages: answered in Slack's order.
_ACCEPT = """
for i = 5, #KEYS do
  if redis.call('exists', KEYS[i]) == 1 then return 0 end
end
for i = 5, #KEYS do redis.call('set', KEYS[i], '1', 'EX', ARGV[4]) end
local placed = false
if ARGV[7] ~= '' then
  for _, queued in ipairs(redis.call('lrange', KEYS[1], 0, -1)) do
    local at = tonumber(string.match(cjson.decode(queued).ts, '%d%d%d%d%d%d%d%d%d+%.?%d*') or '')
    if at and at > tonumber(ARGV[7]) then
      redis.call('linsert', KEYS[1], 'BEFORE', queued, ARGV[1])
      placed = true
      break
    end
  end
end
if not placed then redis.call('rpush', KEYS[1], ARGV[1]) end
redis.call('zadd', KEYS[2], 'NX', ARGV[3], ARGV[2])
redis.call('lpush', KEYS[3], ARGV[2])
if ARGV[6] == 'turn' then redis.call('set', KEYS[4], '1', 'EX', ARGV[5]) end
return 1
"""
# KEYS: epoch, replaying, replayed  ARGV: epoch id, pause seconds. The one caller that
# finds Redis without its epoch replays the durable inbox; turns wait until it is done. If
# that caller dies mid-replay, its pause expires and the next caller replays instead.
_CLAIM_EPOCH = """
if redis.call('set', KEYS[1], ARGV[1], 'NX') or (redis.call('exists', KEYS[3]) == 0
    and redis.call('exists', KEYS[2]) == 0) then
  redis.call('set', KEYS[2], '1', 'EX', ARGV[2])
  return 1
end
return 0
"""
# KEYS: lock, inbox, pending  ARGV: token, session_id
_RELEASE_IF_IDLE = """
if redis.call('get', KEYS[1]) ~= ARGV[1] then return -1 end
if redis.call('llen', KEYS[2]) > 0 then return 0 end
redis.call('del', KEYS[1])
redis.call('zrem', KEYS[3], ARGV[2])
return 1
"""
# KEYS: lock  ARGV: token, ttl ms. Extends our lock; if Redis lost it (a restart without
# persistence) and nobody else took it, takes it back rather than abandoning the turn.
_RENEW = """
local holder = redis.call('get', KEYS[1])
if holder == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
if holder then return 0 end
redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""
# KEYS: lock, inbox  ARGV: token, consumed jobs... Pops only the jobs that were handled:
# if Redis lost the inbox meanwhile, newer jobs at its head are not the ones we answered.
_FINISH = """
if redis.call('get', KEYS[1]) ~= ARGV[1] then return -1 end
for i = 2, #ARGV do
  if redis.call('lindex', KEYS[2], 0) ~= ARGV[i] then return 1 end
  redis.call('lpop', KEYS[2])
end
return 1
"""


def connect(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url, socket_timeout=10, socket_connect_timeout=5, health_check_interval=30,
        retry_on_timeout=True,
    )


def _key(kind: str, session_id: str) -> str:
    return f"{PREFIX}{kind}:{{{session_id}}}"


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
        keys = [self._lock.name, _key("inbox", self.session_id), PENDING]
        result = self._state.release_script(keys=keys, args=[self.token, self.session_id])
        if result == -1:
            self.lost.set()
            raise LeaseLost(f"lock for {self.session_id} was lost before release")
        return result == 1

    def release(self) -> None:
        with contextlib.suppress(LockError):
            self._lock.release()


class RedisState:
    distributed = True

    def __init__(self, client: redis.Redis, lock_ttl: float = 30.0) -> None:
        self.client = client
        self.lock_ttl = lock_ttl
        self._sweep_at = 0
        self._accept = client.register_script(_ACCEPT)
        self._claim = client.register_script(_CLAIM_EPOCH)
        self.release_script = client.register_script(_RELEASE_IF_IDLE)
        self.renew_script = client.register_script(_RENEW)
        self._finish = client.register_script(_FINISH)

    def accept(self, job: Job, dedup_keys: list[str]) -> bool:
        sid = job.session_id
        keys = [_key("inbox", sid), PENDING, WAKE, _key("joined", sid)]
        keys += [f"{PREFIX}dedup:{k}" for k in dedup_keys]
        at = message_time(job.ts) if job.replayed else None
        args = [job.dumps(), sid, time.time(), DEDUP_TTL_SECONDS, JOINED_TTL_SECONDS, job.kind,
                "" if at is None else repr(at)]
        accepted = self._accept(keys=keys, args=args) == 1
        if accepted and job.kind == "turn" and job.thread_ts != DM_THREAD:
            recent = f"{PREFIX}recent:{job.team}:{job.channel}:{job.user}"
            self.client.set(recent, job.thread_ts, ex=JOINED_TTL_SECONDS)
        return accepted

    def is_duplicate(self, dedup_keys: list[str]) -> bool:
        return bool(self.client.exists(*(f"{PREFIX}dedup:{k}" for k in dedup_keys)))

    def claim_epoch(self) -> bool:
        return self._claim(keys=[EPOCH, REPLAYING, REPLAYED],
                           args=[uuid.uuid4().hex, REPLAY_PAUSE_SECONDS]) == 1

    def replaying(self) -> bool:
        return bool(self.client.exists(REPLAYING))

    def replay_done(self) -> None:
        pipe = self.client.pipeline()
        pipe.set(REPLAYED, "1")
        pipe.delete(REPLAYING)
        pipe.execute()

    def wait_for_work(self, timeout: float) -> str | None:
        item = self.client.brpop([WAKE], timeout=max(1, int(timeout)))
        return item[1].decode() if item else None

    def orphans(self, limit: int = 100) -> list[str]:
        """Threads with queued work and no lock holder, `limit` at a time, rotating through
        the whole pending set so long-running threads at its head cannot hide the rest."""
        sids = [s.decode() for s in self.client.zrange(PENDING, self._sweep_at,
                                                       self._sweep_at + limit - 1)]
        self._sweep_at = self._sweep_at + limit if len(sids) == limit else 0
        if not sids:
            return []
        pipe = self.client.pipeline(transaction=False)
        for sid in sids:
            pipe.exists(_key("lock", sid))
        return [sid for sid, held in zip(sids, pipe.execute(), strict=True) if not held]

    def try_lease(self, session_id: str) -> Lease | None:
        lock = self.client.lock(
            _key("lock", session_id), timeout=self.lock_ttl, blocking=False, thread_local=False
        )
        if not lock.acquire():
            return None
        return RedisLease(self, session_id, lock)

    def queued(self, session_id: str, limit: int = 50) -> list[Job]:
        raw = self.client.lrange(_key("inbox", session_id), 0, limit - 1)
        return [Job.loads(item) for item in raw]

    def finish(self, lease: Lease, jobs: list[Job]) -> None:
        assert isinstance(lease, RedisLease)
        keys = [_key("lock", lease.session_id), _key("inbox", lease.session_id)]
        if self._finish(keys=keys, args=[lease.token, *(job.dumps() for job in jobs)]) == -1:
            lease.lost.set()
            raise LeaseLost(f"lock for {lease.session_id} was lost before finishing")

    def is_joined(self, session_id: str) -> bool:
        return bool(self.client.exists(_key("joined", session_id)))

    def sticky_persona(self, session_id: str) -> str | None:
        value = self.client.get(_key("persona", session_id))
        return value.decode() if value else None

    def set_sticky_persona(self, session_id: str, persona: str | None) -> None:
        if persona is None:
            self.client.delete(_key("persona", session_id))
        else:
            self.client.set(_key("persona", session_id), persona, ex=JOINED_TTL_SECONDS)

    def recent_thread(self, team: str, channel: str, user: str) -> str | None:
        value = self.client.get(f"{PREFIX}recent:{team}:{channel}:{user}")
        return value.decode() if value else None

    def set_fact(self, key: str, value: str | None, ttl: float = JOINED_TTL_SECONDS) -> None:
        if value is None:
            self.client.delete(f"{PREFIX}fact:{key}")
        else:
            self.client.set(f"{PREFIX}fact:{key}", value, ex=max(1, int(ttl)))

    def fact(self, key: str) -> str | None:
        value = self.client.get(f"{PREFIX}fact:{key}")
        return value.decode() if value is not None else None

    def add_once(self, key: str, member: str, ttl: float = JOINED_TTL_SECONDS) -> bool:
        name = f"{PREFIX}set:{key}"
        pipe = self.client.pipeline()
        pipe.sadd(name, member)
        pipe.expire(name, max(1, int(ttl)))
        return pipe.execute()[0] == 1

    def count(self, key: str, field: str, by: int = 1) -> int:
        return int(self.client.hincrby(f"{PREFIX}count:{key}", field, by))

    def counts(self, key: str) -> dict[str, int]:
        raw = self.client.hgetall(f"{PREFIX}count:{key}")
        return {k.decode(): int(v) for k, v in raw.items()}

    def append_note(self, key: str, note: str, max_notes: int = 50,
                    ttl: float = JOINED_TTL_SECONDS) -> None:
        name = f"{PREFIX}notes:{key}"
        pipe = self.client.pipeline()
        pipe.rpush(name, note)
        pipe.ltrim(name, -max_notes, -1)
        pipe.expire(name, max(1, int(ttl)))
        pipe.execute()

    def notes(self, key: str) -> list[str]:
        return [n.decode() for n in self.client.lrange(f"{PREFIX}notes:{key}", 0, -1)]

    def drop_notes(self, key: str, count: int) -> None:
        if count > 0:
            self.client.ltrim(f"{PREFIX}notes:{key}", count, -1)

    def ping(self) -> None:
        self.client.ping()

    def queue_stats(self) -> tuple[int, float]:
        sids = [sid.decode() for sid in self.client.zrange(PENDING, 0, -1)]
        pipe = self.client.pipeline(transaction=False)
        for sid in sids:
            pipe.llen(_key("inbox", sid))
            pipe.lindex(_key("inbox", sid), 0)
        replies = pipe.execute() if sids else []
        sent = [message_time(Job.loads(head).ts) for head in replies[1::2] if head]
        now = time.time()
        oldest = max((now - at for at in sent if at is not None), default=0.0)
        return sum(replies[0::2]), max(0.0, oldest)
