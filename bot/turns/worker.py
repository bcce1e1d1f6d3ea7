"""Worker: take threads with queued messages, lock them, and drain their inboxes.

One dispatcher thread waits for work (a wake-up from `accept`, or a periodic sweep for
threads whose previous worker died) and hands each thread to a pool, at most one drain per
thread per process and one holder per thread across processes (the thread lock). A slow
turn occupies one pool slot only; other threads keep flowing.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from bot.jobs import Job
from bot.obs import logs, telemetry
from bot.store.facts import REPORTER
from bot.store.state import State
from bot.store.thread_lock import Lease, LeaseLost
from bot.turns import attempts, undelivered
from bot.turns.approval_turns import AwaitingDecision
from bot.turns.conversation import Conversation

log = logging.getLogger(__name__)
SWEEP_SECONDS = 2.0
MAX_FAILURES = 5  # attempts at one thread's head job (backing off 1, 2, 4, 8 s) before dropping
BACKOFF_SECONDS = 1.0  # the wait after a first failed attempt; doubled after each next one
AWAITING_RECHECK_SECONDS = 30.0  # a message waiting on an approval is looked at again after
HOLD_SECONDS = 8.0  # waits up to this keep the thread lock; longer ones release it
# An answer stored but not shown (Slack failing): retried with backoff up to this wait...
DELIVERY_MAX_BACKOFF_SECONDS = 60.0
# ... for this long, then given up and reported in the thread once Slack takes posts again.
DELIVERY_GIVE_UP_SECONDS = 3600.0


class Worker:
    def __init__(
        self,
        state: State,
        conversation: Conversation,
        concurrency: int = 64,
        on_sweep: Callable[[], object] = lambda: None,
    ) -> None:
        """`on_sweep()`: called on every sweep, on the dispatcher thread (the intake's
        recovery: replay the durable inbox if Redis lost its data, queue held messages)."""
        self.state = state
        self.conversation = conversation
        self.concurrency = concurrency
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="turn")
        self._slots = threading.Semaphore(concurrency)
        self._active: set[str] = set()
        self._active_lock = threading.Lock()
        self._backlog: list[str] = []
        self._next_sweep = 0.0
        self._next_report = 0.0
        self._reporting = threading.Lock()
        self._stopping = threading.Event()
        self._on_sweep = on_sweep
        self._dispatcher = threading.Thread(
            target=self._dispatch_loop, name="dispatch", daemon=True
        )

    def start(self) -> Worker:
        self._dispatcher.start()
        return self

    def begin_stop(self) -> None:
        """Take no new threads; each running drain ends after its current turn."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        if self._dispatcher.is_alive():  # its wait for work ends now, not after its timeout
            threading.Thread(target=self._nudge, name="nudge", daemon=True).start()

    def _nudge(self) -> None:
        """Off the caller's thread: a SIGTERM handler must not wait on a hanging Redis."""
        try:
            self.state.nudge()
        except Exception as exc:  # Redis down: the wait ends after its timeout
            log.info("could not end the wait for work early: %s", exc)

    def stop(self, timeout: float = 25.0) -> None:
        """Stop taking threads, let running turns finish, and hand the rest back."""
        self.begin_stop()
        if self._dispatcher.is_alive():  # an accept-only process never started it
            self._dispatcher.join(timeout=5)
        deadline = time.monotonic() + timeout
        while self.busy and time.monotonic() < deadline:
            time.sleep(0.05)
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self.busy:
            log.warning("stopped with %d threads still running a turn", len(self._active))

    @property
    def busy(self) -> bool:
        with self._active_lock:
            return bool(self._active)

    def _dispatch_loop(self) -> None:
        while not self._stopping.is_set():
            if not self._slots.acquire(timeout=0.5):
                continue
            try:
                session_id = self._next_session()
            except Exception as exc:  # Redis down: keep trying, slowly
                log.warning("waiting for work failed: %s", exc)
                session_id = None
                self._stopping.wait(1.0)
            if session_id is None or not self._claim(session_id):
                self._slots.release()
                continue
            self._pool.submit(self._drain, session_id)

    def _next_session(self) -> str | None:
        if time.monotonic() >= self._next_sweep:
            self._next_sweep = time.monotonic() + SWEEP_SECONDS
            self._on_sweep()
            self._report_unshown()
            self._backlog = self.state.orphans()
        if self._backlog:
            return self._backlog.pop(0)
        return self.state.wait_for_work(timeout=1.0)

    def _report_unshown(self) -> None:
        """Every REPORT_SECONDS, in one process at a time, post the notes of answers Slack
        never showed (bot/turns/undelivered.py), off the dispatcher thread."""
        if time.monotonic() < self._next_report or not self._reporting.acquire(blocking=False):
            return
        self._next_report = time.monotonic() + undelivered.REPORT_SECONDS
        threading.Thread(target=self._report_now, name="report-unshown", daemon=True).start()

    def _report_now(self) -> None:
        try:
            if self.state.spend(REPORTER.key(), 1, undelivered.REPORT_SECONDS):
                undelivered.report_pending(
                    self.state, self.state.try_lease, self.conversation.replier.note
                )
        except Exception as exc:  # Redis or Slack down: the next round tries again
            log.warning("could not report unshown answers yet: %s", exc)
        finally:
            self._reporting.release()

    def _claim(self, session_id: str) -> bool:
        with self._active_lock:
            if session_id in self._active:
                return False
            self._active.add(session_id)
            return True

    def _drain(self, session_id: str) -> None:
        try:
            with logs.context(session_id=session_id):
                lease = self.state.try_lease(session_id)
                if lease is not None:
                    self._drain_locked(lease)
        except Exception:
            log.exception("session %s: could not drain", session_id)
        finally:
            with self._active_lock:
                self._active.discard(session_id)
            self._slots.release()

    def _drain_locked(self, lease: Lease) -> None:
        lease.start_watchdog()
        released = False
        try:
            while not self._stopping.is_set():
                lease.check()
                jobs = self.state.queued(lease.session_id)
                if jobs and self.state.replaying(lease.session_id):  # recovered messages first
                    self._stopping.wait(0.2)
                    continue
                if not jobs:
                    if lease.release_if_idle():
                        released = True
                        return
                    continue
                consumed = self._turn(lease, jobs)
                if consumed is None:
                    return  # waits for a later retry: the lock is released, the sweep comes back
                if not consumed:
                    continue  # retry, still holding the thread lock
                self.state.finish(lease, consumed)
                attempts.clear(self.state, lease.session_id)
        finally:
            lease.stop_watchdog()
            if not released:
                lease.release()  # queued work stays; the sweep hands it to any worker

    def _turn(self, lease: Lease, jobs: list[Job]) -> list[Job] | None:
        """One turn over the head of `jobs`; the jobs it consumed (empty: retry it now;
        None: retry it later, after the thread lock is released)."""
        jobs = decisions_first(jobs)
        record = attempts.load(self.state, jobs[0])
        if record.retry_at > time.time():
            return None
        if record.delivering is None and record.count >= MAX_FAILURES:
            log.error(
                "session %s: the last of %d attempts at %s never ended; giving up",
                lease.session_id,
                record.count,
                jobs[0].ts,
            )
            self.conversation.give_up(jobs[0], record.count)
            return jobs[:1]
        record.count += 1
        attempts.save(self.state, lease.session_id, record)  # counted before it can kill us
        final = record.delivering is None and record.count >= MAX_FAILURES
        turn_id = uuid.uuid4().hex[:12]
        with logs.context(turn_id=turn_id, ts=jobs[0].ts), telemetry.turn(jobs, turn_id):
            try:
                return self.conversation.handle(jobs, lease, final_attempt=final)
            except AwaitingDecision:  # a person decides first: not an attempt; looked at
                record.count -= 1  # again after a while, or at once when a decision comes
                record.retry_at = time.time() + AWAITING_RECHECK_SECONDS
                attempts.save(self.state, lease.session_id, record)
                return None
            except LeaseLost:
                record.count -= 1  # not this message's fault
                with contextlib.suppress(Exception):
                    attempts.save(self.state, lease.session_id, record)
                raise
            except undelivered.Undelivered as exc:
                log.warning(
                    "session %s: the answer to %s is stored but Slack did not take it (%s)",
                    lease.session_id,
                    exc.job.ts,
                    exc.__cause__,
                )
                return self._after_undelivered(lease, jobs, record, exc)
            except Exception as exc:
                log.exception("session %s: turn failed", lease.session_id)
                telemetry.failed(exc, "failed")  # retried, or dropped after MAX_FAILURES
                if record.delivering is not None:
                    return self._after_undelivered(lease, jobs, record, None)
                return self._after_failure(lease, jobs, record)

    def _after_failure(
        self, lease: Lease, jobs: list[Job], record: attempts.Attempts
    ) -> list[Job] | None:
        """Back off after a failed attempt; after MAX_FAILURES drop the job, apologising."""
        if record.count < MAX_FAILURES:
            return self._retry(lease, record, BACKOFF_SECONDS * 2.0 ** (record.count - 1))
        log.error(
            "session %s: dropping a job after %d failed attempts", lease.session_id, record.count
        )
        self.conversation.give_up(jobs[0], record.count)
        return jobs[:1]

    def _after_undelivered(
        self,
        lease: Lease,
        jobs: list[Job],
        record: attempts.Attempts,
        exc: undelivered.Undelivered | None,
    ) -> list[Job] | None:
        """An answer is stored, Slack did not show it: retry with backoff (not holding the
        thread) until DELIVERY_GIVE_UP_SECONDS, then record it for a note in the thread."""
        now = time.time()
        if record.delivering is None:
            record.delivering, record.count = now, 1
        attempts.save(self.state, lease.session_id, record)
        if now - record.delivering >= DELIVERY_GIVE_UP_SECONDS:
            job = exc.job if exc is not None else jobs[0]
            log.error(
                "session %s: giving up showing the answer to %s after %.0f s",
                lease.session_id,
                job.ts,
                now - record.delivering,
            )
            undelivered.record(self.state, job, record.delivering)
            return list(exc.jobs) if exc is not None else jobs[:1]
        delay = min(BACKOFF_SECONDS * 2.0 ** (record.count - 1), DELIVERY_MAX_BACKOFF_SECONDS)
        return self._retry(lease, record, delay)

    def _retry(self, lease: Lease, record: attempts.Attempts, delay: float) -> list[Job] | None:
        """Wait `delay` holding the thread if it is short; else release it (None) and leave
        the next attempt to whichever worker's sweep finds the thread after `retry_at`."""
        if delay <= HOLD_SECONDS:
            self._stopping.wait(delay)
            return []
        record.retry_at = time.time() + delay
        attempts.save(self.state, lease.session_id, record)
        return None


def decisions_first(jobs: list[Job]) -> list[Job]:
    """A decision on an approval goes ahead of the messages that wait for it (its own
    attempts and retries, not theirs)."""
    resume = next((job for job in jobs if job.kind == "resume"), None)
    if resume is None or jobs[0].kind != "turn":
        return jobs
    return [resume, *(job for job in jobs if job is not resume)]
