"""In-process state for the embedded single-worker mode (no REDIS_URL).

Same contract as RedisState, held in this process only: a second worker would not see it,
and queued messages do not survive a restart. The app logs that loudly at start-up.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict, deque

from bot.dedup import DEDUP_TTL_SECONDS
from bot.jobs import DM_THREAD, Job, message_time
from bot.store.state import DUPLICATE, FULL, JOINED_TTL_SECONDS, QUEUED, REPLAY_PAUSE_SECONDS
from bot.thread_lock import Lease, LeaseLost


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
            del self._state._locks[self.session_id]
            self._state._pending.pop(self.session_id, None)
            return True

    def release(self) -> None:
        with self._state._cond:
            if self._state._locks.get(self.session_id) == self.token:
                del self._state._locks[self.session_id]


class MemoryState:
    distributed = False

    def __init__(self, lock_ttl: float = 30.0) -> None:
        self.lock_ttl = lock_ttl
        self._cond = threading.Condition()
        self._dedup: OrderedDict[str, float] = OrderedDict()
        self._epoch_claimed = False
        self._replaying_until = 0.0
        self._settling_until = 0.0
        self._inbox: dict[str, deque[Job]] = {}
        self._pending: dict[str, float] = {}
        self._wake: deque[str] = deque()
        self._locks: dict[str, int] = {}
        self._joined: set[str] = set()
        self._personas: dict[str, str] = {}
        self._spent: dict[str, tuple[int, float]] = {}  # spend(): (uses, window end)
        self._recent: dict[tuple[str, str, str], str] = {}
        self._tokens = itertools.count(1)
        self._facts: dict[str, tuple[str, float]] = {}
        self._sets: dict[str, set[str]] = {}
        self._counts: dict[str, dict[str, int]] = {}
        self._notes: dict[str, list[str]] = {}

    def _expire_dedup(self, now: float) -> None:
        while self._dedup and next(iter(self._dedup.values())) < now:
            self._dedup.popitem(last=False)

    def accept(self, job: Job, dedup_keys: list[str]) -> bool:
        return self.offer(job, dedup_keys) == QUEUED

    def offer(self, job: Job, dedup_keys: list[str], max_queued: int = 0) -> str:
        """See State.offer: `accept`, refusing past `max_queued` jobs in the thread."""
        now = time.time()
        with self._cond:
            self._expire_dedup(now)
            if any(key in self._dedup for key in dedup_keys):
                return DUPLICATE
            for key in dedup_keys:
                self._dedup[key] = now + DEDUP_TTL_SECONDS
            sid = job.session_id
            inbox = self._inbox.setdefault(sid, deque())
            if max_queued > 0 and not job.replayed and len(inbox) >= max_queued:
                return FULL
            self._queue(inbox, job)
            self._pending.setdefault(sid, now)
            if job.kind == "turn":
                self._joined.add(sid)
                if job.thread_ts != DM_THREAD:
                    self._recent[(job.team, job.channel, job.user)] = job.thread_ts
            self._wake.append(sid)
            self._cond.notify()
            return QUEUED

    def is_duplicate(self, job: Job, dedup_keys: list[str]) -> bool:
        with self._cond:
            self._expire_dedup(time.time())
            return any(key in self._dedup for key in dedup_keys)

    @staticmethod
    def _queue(inbox: deque[Job], job: Job) -> None:
        """As RedisState's accept: a replayed job goes before jobs of later messages."""
        at = message_time(job.ts) if job.replayed else None
        for index, queued in enumerate(inbox if at is not None else ()):
            if (message_time(queued.ts) or 0) > at:
                inbox.insert(index, job)
                return
        inbox.append(job)

    def claim_epoch(self, session_id: str | None = None) -> bool:
        with self._cond:
            if self._epoch_claimed:
                return False
            self._epoch_claimed = True
            self._replaying_until = time.time() + REPLAY_PAUSE_SECONDS
            return True

    def replaying(self, session_id: str | None = None) -> bool:
        return time.time() < max(self._replaying_until, self._settling_until)

    def replay_done(self, settle_seconds: float = 0.0) -> None:
        self._replaying_until = 0.0
        self.hold_turns(settle_seconds)

    def wait_for_work(self, timeout: float) -> str | None:
        with self._cond:
            if not self._wake:
                self._cond.wait(timeout)
            return self._wake.popleft() if self._wake else None

    def orphans(self, limit: int = 100) -> list[str]:
        with self._cond:
            return [sid for sid in list(self._pending)[:limit] if sid not in self._locks]

    def queue_stats(self) -> tuple[int, float]:
        now = time.time()
        with self._cond:
            inboxes = [inbox for inbox in self._inbox.values() if inbox]
            count = sum(len(inbox) for inbox in inboxes)
            heads = [message_time(inbox[0].ts) or self._pending.get(inbox[0].session_id, now)
                     for inbox in inboxes]
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
                    return
                inbox.popleft()

    def is_joined(self, session_id: str) -> bool:
        return session_id in self._joined

    def sticky_persona(self, session_id: str) -> str | None:
        return self._personas.get(session_id)

    def set_sticky_persona(self, session_id: str, persona: str | None) -> None:
        if persona is None:
            self._personas.pop(session_id, None)
        else:
            self._personas[session_id] = persona

    def recent_thread(self, team: str, channel: str, user: str) -> str | None:
        return self._recent.get((team, channel, user))

    def set_fact(self, key: str, value: str | None, ttl: float = JOINED_TTL_SECONDS) -> None:
        with self._cond:
            if value is None:
                self._facts.pop(key, None)
            else:
                self._facts[key] = (value, time.monotonic() + ttl)

    def fact(self, key: str) -> str | None:
        with self._cond:
            value, expires = self._facts.get(key, (None, 0.0))
            return value if expires > time.monotonic() else None

    def add_once(self, key: str, member: str, ttl: float = JOINED_TTL_SECONDS) -> bool:
        with self._cond:
            members = self._sets.setdefault(key, set())
            if member in members:
                return False
            members.add(member)
            return True

    def spend(self, key: str, limit: int, window: float) -> bool:
        """See State.spend: a fixed window per key, started by its first use."""
        now = time.monotonic()
        with self._cond:
            used, until = self._spent.get(key, (0, 0.0))
            if now >= until:
                used, until = 0, now + window
            self._spent[key] = (used + 1, until)
            return used + 1 <= limit

    def count(self, key: str, field: str, by: int = 1) -> int:
        with self._cond:
            fields = self._counts.setdefault(key, {})
            fields[field] = fields.get(field, 0) + by
            return fields[field]

    def counts(self, key: str) -> dict[str, int]:
        with self._cond:
            return dict(self._counts.get(key, {}))

    def append_note(self, key: str, note: str, max_notes: int = 50,
                    ttl: float = JOINED_TTL_SECONDS) -> None:
        with self._cond:
            self._notes[key] = [*self._notes.get(key, []), note][-max_notes:]

    def notes(self, key: str) -> list[str]:
        with self._cond:
            return list(self._notes.get(key, []))

    def drop_notes(self, key: str, count: int) -> None:
        with self._cond:
            self._notes[key] = self._notes.get(key, [])[count:]

    def hold_turns(self, seconds: float, shard: int | None = None) -> None:
        """See State.hold_turns (one process: nothing else holds messages; kept for the
        contract; every thread waits, whatever `shard`)."""
        with self._cond:
            self._settling_until = max(self._settling_until, time.time() + seconds)

    def ping(self) -> None:
        return None

    def quick(self) -> MemoryState:
        """Never hangs: the ack path uses this same state."""
        return self
