"""In-process state for the embedded single-worker mode (no REDIS_URL).

Same contract as RedisState, held in this process only: a second worker would not see it,
and queued messages do not survive a restart. The app logs that loudly at start-up.
Everything Redis would expire expires here too (bot/store/ttl_map.py: purged as it goes,
and bounded), and a thread's emptied queue is dropped, so memory follows live work only.
The queues and leases are here; the `Recovery` and `Facts` roles in
bot/store/memory_recovery.py and bot/store/memory_facts.py.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque

from bot.jobs import DM_THREAD, Job, message_time
from bot.store.dedup import DEDUP_TTL_SECONDS
from bot.store.memory_facts import MemoryFacts
from bot.store.memory_recovery import MemoryRecovery
from bot.store.state import (
    DUPLICATE,
    FULL,
    JOINED_TTL_SECONDS,
    KEPT_ON_UNINSTALL,
    QUEUED,
    team_pattern,
)
from bot.store.thread_lock import Lease, LeaseLost
from bot.store.ttl_map import MAX_ENTRIES, PURGE_EVERY, TtlMap


class MemoryLease(Lease):
    def __init__(self, state: MemoryState, session_id: str, token: int, ttl: float) -> None:
        super().__init__(session_id, ttl)
        self._state = state
        self.token = token

    def renew(self) -> bool:
        return self._state._locks.get(self.session_id) == self.token

    def release_if_idle(self) -> bool:
        with self._state._cond:
            if self._state._locks.get(self.session_id) != self.token:
                self.lost.set()
                raise LeaseLost(f"lock for {self.session_id} was lost before release")
            if self._state._inbox.get(self.session_id):
                return False
            self._state._inbox.pop(self.session_id, None)
            del self._state._locks[self.session_id]
            self._state._pending.pop(self.session_id, None)
            return True

    def release(self) -> None:
        with self._state._cond:
            if self._state._locks.get(self.session_id) == self.token:
                del self._state._locks[self.session_id]


class MemoryState(MemoryRecovery, MemoryFacts):
    """`State` in this process's memory: the queues and leases here, the `Recovery` and
    `Facts` roles mixed in (bot/store/memory_recovery.py, memory_facts.py). One lock
    (`_cond`) guards all of it, and wakes the worker waiting for work."""

    distributed = False

    def __init__(self, lock_ttl: float = 30.0, max_entries: int = MAX_ENTRIES) -> None:
        """`max_entries`: at most this many of each kind of fact (see TtlMap)."""
        self.lock_ttl = lock_ttl
        self._cond = threading.Condition()
        maps: list[TtlMap] = []

        def ttl_map(on_evict: object = None) -> TtlMap:
            maps.append(TtlMap(max_entries, on_evict=on_evict))  # type: ignore[arg-type]
            return maps[-1]

        self._dedup: TtlMap[str, bool] = ttl_map()
        self._init_recovery(ttl_map)
        self._init_facts(ttl_map)
        self._maps = tuple(maps)
        self._writes = 0
        self._inbox: dict[str, deque[Job]] = {}
        self._pending: dict[str, float] = {}
        self._wake: deque[str] = deque()
        self._locks: dict[str, int] = {}
        self._tokens = itertools.count(1)

    def _wrote(self) -> None:
        """Every PURGE_EVERY writes (to any kind of fact), drop every expired entry."""
        self._writes += 1
        if self._writes >= PURGE_EVERY:
            self._writes = 0
            for one in self._maps:
                one.purge()

    def accept(self, job: Job, dedup_keys: list[str]) -> bool:
        return self.offer(job, dedup_keys) == QUEUED

    def offer(self, job: Job, dedup_keys: list[str], max_queued: int = 0) -> str:
        """See State.offer: `accept`, refusing past `max_queued` jobs in the thread."""
        now = time.time()
        with self._cond:
            self._wrote()
            if any(self._dedup.get(key) for key in dedup_keys):
                return DUPLICATE
            for key in dedup_keys:
                self._dedup.set(key, True, DEDUP_TTL_SECONDS)
            sid = job.session_id
            inbox = self._inbox.setdefault(sid, deque())
            if max_queued > 0 and not job.replayed and len(inbox) >= max_queued:
                return FULL
            self._queue(inbox, job)
            self._pending.setdefault(sid, now)
            if job.kind == "turn":
                self._joined.set(sid, True, JOINED_TTL_SECONDS)
                if job.thread_ts != DM_THREAD:
                    self._recent.set(
                        (job.team, job.channel, job.user), job.thread_ts, JOINED_TTL_SECONDS
                    )
            self._wake.append(sid)
            self._cond.notify()
            return QUEUED

    def is_duplicate(self, job: Job, dedup_keys: list[str]) -> bool:
        with self._cond:
            return any(self._dedup.get(key) for key in dedup_keys)

    @staticmethod
    def _queue(inbox: deque[Job], job: Job) -> None:
        """As RedisState's accept: a replayed job goes before jobs of later messages."""
        at = message_time(job.ts) if job.replayed else None
        if at is None:
            inbox.append(job)
            return
        for index, queued in enumerate(inbox):
            if (message_time(queued.ts) or 0) > at:
                inbox.insert(index, job)
                return
        inbox.append(job)

    def wait_for_work(self, timeout: float) -> str | None:
        with self._cond:
            if not self._wake:
                self._cond.wait(timeout)
            return self._wake.popleft() if self._wake else None

    def nudge(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def queue_stats(self) -> tuple[int, float]:
        now = time.time()
        with self._cond:
            inboxes = [inbox for inbox in self._inbox.values() if inbox]
            count = sum(len(inbox) for inbox in inboxes)
            heads = [
                message_time(inbox[0].ts) or self._pending.get(inbox[0].session_id, now)
                for inbox in inboxes
            ]
        return count, max(0.0, now - min(heads)) if heads else 0.0

    def try_lease(self, session_id: str) -> Lease | None:
        with self._cond:
            if session_id in self._locks:
                return None
            token = next(self._tokens)
            self._locks[session_id] = token
            return MemoryLease(self, session_id, token, self.lock_ttl)

    def queued(self, session_id: str, limit: int = 50) -> list[Job]:
        with self._cond:
            return list(self._inbox.get(session_id, ()))[:limit]

    def finish(self, lease: Lease, jobs: list[Job]) -> None:
        assert isinstance(lease, MemoryLease)
        with self._cond:
            if self._locks.get(lease.session_id) != lease.token:
                lease.lost.set()
                raise LeaseLost(f"lock for {lease.session_id} was lost before finishing")
            inbox = self._inbox.get(lease.session_id, deque())
            for job in jobs:
                if not inbox or inbox[0] != job:
                    break
                inbox.popleft()
            if not inbox:
                self._inbox.pop(lease.session_id, None)

    def forget_team(self, team: str) -> int:
        """See State.forget_team."""
        named = team_pattern(team).search
        with self._cond:
            dropped = sum(
                one.drop(
                    lambda key: (
                        isinstance(key, str)
                        and named(key) is not None
                        and not key.startswith(KEPT_ON_UNINSTALL)
                    )
                )
                for one in self._maps
            )
            dropped += self._recent.drop(lambda key: key[0] == team)
            for sid in {sid for sid in (*self._inbox, *self._pending) if named(sid)}:
                self._pending.pop(sid, None)
                dropped += self._inbox.pop(sid, None) is not None
            self._wake = deque(sid for sid in self._wake if not named(sid))
            return dropped

    def ping(self) -> None:
        return None

    def quick(self) -> MemoryState:
        """Never hangs: the ack path uses this same state."""
        return self
