"""Redis down, storage up: messages are still taken, and reach Redis once it is back.

The ack path calls Redis through a `Breaker`: after a failure it skips Redis for
`BREAKER_SECONDS` (failing at once instead of waiting out a timeout per call), then lets
one call through to find out whether Redis is back.

A message that cannot be queued in Redis is written to the durable inbox as always
(bot/store/inbox.py) plus a marker under `inbox/pending/` holding the job, and kept in this
process's `Pending` list; then Slack gets its ack. A flusher thread of this process queues
the held messages of each thread in arrival order once Redis answers; the marker lets any
process's worker sweep (`Pending.sweep`, every `PENDING_SWEEP_SECONDS`) queue them if this
process dies first. They are queued `replayed`, so a turn checks its session before
answering one (a Slack retry accepted meanwhile is never answered twice), and dedup on
channel + ts makes queueing a message twice harmless. With Redis up nothing here costs a
request, except the sweep's one LIST per `PENDING_SWEEP_SECONDS` per worker process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Hashable
from typing import TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from bot.jobs import Job, message_time
from bot.store.blobs import Blobs, FencingError
from bot.store.dedup import dedup_keys
from bot.store.state import SETTLE_SECONDS

__all__ = ["SETTLE_SECONDS", "Breaker", "CircuitOpen", "Pending"]

log = logging.getLogger(__name__)
T = TypeVar("T")
BREAKER_SECONDS = 2.0  # after a Redis failure, the ack path skips Redis this long
FLUSH_SECONDS = 0.5  # how often the flusher tries to queue held messages
PENDING_SWEEP_SECONDS = 10.0  # how often a worker looks for markers of other processes
PENDING = "inbox/pending/"


class CircuitOpen(RedisConnectionError):
    """Redis failed moments ago: not asked again yet."""


class Breaker:
    """A circuit breaker around Redis calls on the ack path, one per `scope` (a shard of
    the key layout): a Redis Cluster primary that fails opens the breaker of its shards
    only, so threads whose shards live on the other primaries are never held."""

    def __init__(
        self,
        open_seconds: float = BREAKER_SECONDS,
        on_recover: Callable[[Hashable], object] = lambda scope: None,
    ) -> None:
        """`on_recover(scope)`: the Redis call that finds out whether Redis is back for
        `scope`, made before the caller's own (the Intake: State.hold_turns of that shard, so
        this process's later messages wait for what every process held)."""
        self.open_seconds = open_seconds
        self.on_recover = on_recover
        self._lock = threading.Lock()
        self._open_until: dict[Hashable, float] = {}  # absent: closed
        self._probing: set[Hashable] = set()

    @property
    def closed(self) -> bool:
        """Did the last call of every scope reach Redis?"""
        return not self._open_until

    def call(
        self, fn: Callable[..., T], *args: object, scope: Hashable = None, probe: bool = False
    ) -> T:
        """`fn(*args)`, unless Redis failed for `scope` less than `open_seconds` ago (or
        another call is finding out whether it is back): then CircuitOpen at once. A
        RedisError opens the scope's breaker, a success closes it; the first call after
        an open spell runs `on_recover(scope)` first. `probe`: a background caller that
        may find out before `open_seconds` are over (the held messages' flusher)."""
        probing = False
        with self._lock:
            if scope in self._open_until:
                if scope in self._probing or (
                    not probe and time.monotonic() < self._open_until[scope]
                ):
                    raise CircuitOpen("Redis failed moments ago; not asked again yet")
                self._probing.add(scope)
                probing = True
        try:
            if probing:
                self.on_recover(scope)
            result = fn(*args)
        except RedisError:
            with self._lock:
                self._open_until[scope] = time.monotonic() + self.open_seconds
                self._probing.discard(scope)
            raise
        except BaseException:
            with self._lock:
                self._probing.discard(scope)
            raise
        with self._lock:
            self._open_until.pop(scope, None)
            self._probing.discard(scope)
        return result


def marker_key(job: Job) -> str:
    return f"{PENDING}{job.session_id}/{job.ts}.json"


@dataclasses.dataclass(frozen=True)
class Held:
    job: Job  # marked replayed
    keys: list[str]  # its dedup keys (with the event_id of the delivery that was held)


class Pending:
    """Messages in the durable inbox that Redis has not queued yet (see module doc)."""

    def __init__(
        self,
        blobs: Blobs,
        queue: Callable[[Job, list[str]], bool],
        settle: Callable[[str], None] = lambda session_id: None,
        scope_of: Callable[[str], Hashable] = lambda session_id: session_id,
    ) -> None:
        """`queue(job, dedup_keys)`: State.accept, through the ack path's breaker;
        `settle(session_id)`: make that thread's turns wait SETTLE_SECONDS
        (State.hold_turns of its shard), called before its held messages are queued;
        `scope_of(session_id)`: the part of Redis that thread lives in (its shard): one
        that fails in a flush is not asked again for the other threads of that flush."""
        self.blobs = blobs
        self.queue = queue
        self.settle = settle
        self.scope_of = scope_of
        self._held: dict[str, list[Held]] = {}  # by session, in arrival order
        self._lock = threading.Lock()
        self._flusher: threading.Thread | None = None
        self._next_sweep = 0.0
        self._sweeping = threading.Lock()

    def holds(self, session_id: str) -> bool:
        """Are messages of this thread waiting here for Redis? (A newer one then waits
        behind them, so the thread's messages stay in arrival order.)"""
        with self._lock:
            return session_id in self._held

    def hold(self, job: Job, keys: list[str]) -> None:
        """Keep `job` until Redis takes it: a durable marker first (raises if storage
        fails too: Slack then gets a 500), then this process's list and flusher."""
        job = dataclasses.replace(job, replayed=True)
        with contextlib.suppress(FencingError):  # held before (a retry, the other event)
            self.blobs.put(marker_key(job), job.dumps().encode(), None)
        with self._lock:
            held = self._held.setdefault(job.session_id, [])
            if all(other.job.ts != job.ts for other in held):
                held.append(Held(job, keys))
            if self._flusher is None or not self._flusher.is_alive():
                self._flusher = threading.Thread(
                    target=self._flush_loop, name="pending", daemon=True
                )
                self._flusher.start()
        log.warning(
            "Redis unreachable: %s in %s held in the durable inbox until it is back",
            job.ts,
            job.session_id,
        )

    def _flush_loop(self) -> None:
        while True:
            time.sleep(FLUSH_SECONDS)
            try:
                self.flush()
            except Exception:  # storage trouble deleting markers is logged in _forget
                log.exception("queueing held messages failed; trying again")
            with self._lock:
                if not self._held:
                    self._flusher = None
                    return

    def flush(self) -> int:
        """Queue the held messages, each thread's in order; how many left this list."""
        with self._lock:
            sessions = list(self._held)
        done, down = 0, set()
        for session_id in sessions:
            if self.scope_of(session_id) in down:
                continue
            try:
                done += self._flush_thread(session_id)
            except RedisError:  # still down there: this thread's messages wait, in order
                down.add(self.scope_of(session_id))
        if done:
            log.warning("Redis is back: %d held messages queued", done)
        return done

    def _flush_thread(self, session_id: str) -> int:
        self.settle(session_id)
        done = 0
        while (head := self._head(session_id)) is not None:
            self.queue(head.job, head.keys)
            self._forget([marker_key(head.job)])
            with self._lock:
                held = self._held.get(session_id, [])
                if held and held[0] is head:
                    held.pop(0)
                if not held:
                    self._held.pop(session_id, None)
            done += 1
        return done

    def _head(self, session_id: str) -> Held | None:
        with self._lock:
            held = self._held.get(session_id)
            return held[0] if held else None

    def _forget(self, keys: list[str]) -> None:
        try:
            self.blobs.delete(keys)
        except Exception as exc:  # queued anyway: a later sweep finds it a duplicate
            log.warning("could not delete pending markers %s: %s", keys, exc)

    def sweep(self, now: float | None = None) -> int:
        """Every PENDING_SWEEP_SECONDS: queue the messages other processes (alive or dead)
        left marked, oldest first; how many Redis took (the others were queued already)."""
        now = time.monotonic() if now is None else now
        if now < self._next_sweep or not self._sweeping.acquire(blocking=False):
            return 0
        try:
            self._next_sweep = now + PENDING_SWEEP_SECONDS
            return self._sweep()
        finally:
            self._sweeping.release()

    def _sweep(self) -> int:
        keys = list(self.blobs.keys(PENDING))
        if not keys:
            return 0
        jobs = [Job.loads(got[0]) for got in map(self.blobs.get, keys) if got is not None]
        jobs.sort(key=lambda job: message_time(job.ts) or 0.0)
        queued, done, settled = 0, [], set()
        for job in jobs:
            if self.holds(job.session_id):
                continue  # this process's flusher has it, in order
            try:
                if job.session_id not in settled:
                    self.settle(job.session_id)
                    settled.add(job.session_id)
                queued += bool(self.queue(job, dedup_keys(job, None)))
            except RedisError as exc:
                log.info("pending messages wait: Redis still unreachable (%s)", exc)
                break
            done.append(marker_key(job))
        if done:
            self._forget(done)
            log.warning(
                "queued %d messages held in the durable inbox during a Redis outage "
                "(%d were queued already)",
                queued,
                len(done) - queued,
            )
        return queued
