"""The ack path: a routed message is deduped, recorded durably and queued before Slack's ack.

`take` is what the listeners call: a stop word acts at once; anything else is `accept`ed.
Redis is called through short timeouts and a breaker (bot/intake/outage.py): a message it
cannot queue is held in the durable inbox until it is back. A thread whose queue is full
(THREAD_QUEUE_MAX) gets a note instead of another queued message. What Redis lost or never
got is queued again by the recovery side (bot/intake/recovery.py).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import logging
from collections.abc import Callable
from concurrent.futures import Executor

from redis.exceptions import RedisError

from bot.answer.reply import Replier
from bot.answer.stop import STOP_ANY, request_stop
from bot.errors import TRANSIENT_ERRORS
from bot.intake.outage import SETTLE_SECONDS, Breaker, Pending
from bot.intake.recovery import Recovery
from bot.jobs import Job
from bot.obs import logs, metrics, telemetry
from bot.slack.clients import SlackClients
from bot.slack.payloads import LAST_SLACK_RETRY
from bot.store.dedup import dedup_keys
from bot.store.facts import REFUSALS, STOP_SEEN
from bot.store.inbox import Inbox
from bot.store.redis_keys import shard_of
from bot.store.sessions import SessionStore
from bot.store.state import FULL, QUEUED, State

log = logging.getLogger(__name__)
UNAVAILABLE = (
    ":warning: Sorry, I can't take messages right now (my state store or storage is unreachable). "
    "Please send that again in a minute."
)
QUEUE_FULL = (
    ":no_entry: Your message was not taken: this thread already has {count} messages waiting "
    "for an answer. Please send it again once I've caught up."
)
REFUSALS_PER_MINUTE = 30  # notes about refused messages, per thread


class Intake:
    def __init__(
        self,
        state: State,
        inbox: Inbox,
        sessions: SessionStore,
        slack: SlackClients,
        *,
        queue_max: int,
        background: Executor,
        on_queued: Callable[[Job], object] = lambda job: None,
    ) -> None:
        """`inbox`: the durable inbox (on storage with short timeouts); `sessions`: asked
        whether a thread is joined when Redis cannot say; `queue_max`: THREAD_QUEUE_MAX;
        `background`: where the work that must not delay the ack runs; `on_queued(job)`:
        called there for each turn queued (the "waiting" reaction)."""
        self.state = state
        self.inbox = inbox
        self.sessions = sessions
        self.slack = slack
        self.queue_max = queue_max
        self.background = background
        self.on_queued = on_queued
        # The ack path's Redis: short timeouts, behind a breaker; messages it could not
        # queue wait in `pending` (and the durable inbox) until Redis is back.
        self.ack_state = state.quick()
        self.breaker = Breaker(
            on_recover=lambda scope: self.ack_state.hold_turns(
                SETTLE_SECONDS, scope if isinstance(scope, int) else None
            )
        )
        self.pending = Pending(inbox.blobs, self._queue_held, self._settle, shard_of)
        self.recovery = Recovery(state, inbox, self.pending, background)

    def take(self, job: Job, event_id: str | None = None, retry: int = 0) -> bool:
        """A routed message: a stop word acts at once (never queued behind the answer it
        stops); anything else is deduped and queued (`accept`)."""
        if job.kind == "stop":
            return self.request_stop(job, event_id)
        return self.accept(job, event_id, retry)

    def accept(self, job: Job, event_id: str | None = None, retry: int = 0) -> bool:
        """Dedup and queue durably; True if this is the first time we see the message.

        If Redis is unreachable or hangs, the message is held in the durable inbox and
        queued when Redis is back (bot/intake/outage.py). If storage is unreachable too the error
        propagates (Slack gets a 500 and retries later), except on Slack's last retry,
        where the user is told instead of left waiting.
        """
        with (
            logs.context(event_id=event_id, session_id=job.session_id, ts=job.ts),
            telemetry.accepting(job, event_id, retry),
        ):
            return self._dedup_and_queue(job, event_id, retry)

    def _dedup_and_queue(self, job: Job, event_id: str | None, retry: int) -> bool:
        keys = dedup_keys(job, event_id)
        try:
            accepted = self._accept(job, keys)
        except TRANSIENT_ERRORS as exc:
            if retry < LAST_SLACK_RETRY:
                log.warning("could not queue %s (retry %d): %s", job.ts, retry, exc)
                raise
            log.error("could not queue %s on Slack's last retry: %s", job.ts, exc)
            with contextlib.suppress(Exception):
                Replier(self.slack, False).note(job, UNAVAILABLE)
            return False
        log.info(
            "%s %s %s in %s (ts %s)",
            "queued" if accepted else "duplicate",
            job.kind,
            event_id or "",
            job.session_id,
            job.ts,
        )
        telemetry.note(outcome="queued" if accepted else "duplicate")
        metrics.accepted(job.kind, accepted)
        if accepted and job.kind == "turn":
            # off the request thread: the ack must not wait for a reaction
            self.background.submit(contextvars.copy_context().run, self.on_queued, job)
        return accepted

    def _accept(self, job: Job, keys: list[str]) -> bool:
        """The durable record first, then the Redis queue (which dedups for real). A record
        that exists already means Redis forgot the message (or another delivery of it is
        being accepted right now): queue it as replayed, so the turn checks it first.
        Redis failing (or skipped by the breaker) holds the message instead; storage
        failing too raises."""
        recorded: bool | None = None
        job = telemetry.stamped(job)  # the turn continues this trace
        try:
            if self.pending.holds(job.session_id):  # behind this thread's held messages
                raise RedisError("earlier messages of this thread wait for Redis")
            scope = shard_of(job.session_id)  # a failing primary skips its shards only
            if self.breaker.call(self.ack_state.is_duplicate, job, keys, scope=scope):
                return False
            if self.breaker.call(self.ack_state.claim_epoch, job.session_id, scope=scope):
                self.recovery.replay_soon()
            recorded = self.inbox.record(job)
            if not recorded:
                job = dataclasses.replace(job, replayed=True)
            return self._offer(job, keys, scope)
        except RedisError as exc:
            log.info("Redis cannot queue %s now (%s): holding it", job.ts, exc)
            if recorded is None:
                recorded = self.inbox.record(job)
            self.pending.hold(job, keys)
            return recorded

    def _offer(self, job: Job, keys: list[str], scope: int) -> bool:
        """Queue within the thread's cap (THREAD_QUEUE_MAX); a message past it is taken
        (acked, deduped) but not queued, and its author is told (off this thread)."""
        outcome = self.breaker.call(self.ack_state.offer, job, keys, self.queue_max, scope=scope)
        if outcome == FULL:
            log.warning(
                "thread %s already has %d messages waiting: %s not taken",
                job.session_id,
                self.queue_max,
                job.ts,
            )
            self.background.submit(contextvars.copy_context().run, self._refuse, job)
        return outcome == QUEUED

    def _refuse(self, job: Job) -> None:
        """Tell the author their message was not taken (a private note in the thread, at
        most REFUSALS_PER_MINUTE a thread), and mark it handled in the durable inbox so a
        replay does not queue it after all."""
        with contextlib.suppress(Exception):
            self.inbox.done(job)
        try:
            allowed = self.state.spend(
                REFUSALS.key(job.session_id), REFUSALS_PER_MINUTE, REFUSALS.ttl
            )
        except Exception:  # the state store cannot count: tell anyway
            allowed = True
        if allowed:
            text = QUEUE_FULL.format(count=self.queue_max)
            Replier(self.slack, False).ephemeral(
                job.channel, job.user, text, thread_ts=job.reply_thread_ts, job=job
            )

    def _queue_held(self, job: Job, keys: list[str]) -> bool:
        """Queue a held message: the flusher asks Redis every FLUSH_SECONDS, even while the
        ack path's breaker still skips it, so held messages land as soon as it is back."""
        # never refused: it was acked while the cap could not be checked
        return self.breaker.call(
            self.ack_state.accept, job, keys, scope=shard_of(job.session_id), probe=True
        )

    def _settle(self, session_id: str) -> None:
        scope = shard_of(session_id)
        self.breaker.call(self.ack_state.hold_turns, SETTLE_SECONDS, scope, scope=scope, probe=True)

    def request_stop(self, job: Job, event_id: str | None = None) -> bool:
        """A stop word: ask the thread's running answer to stop now (never queued behind it).

        Deduplicated like queued messages (Slack retries, the same message as app_mention
        and message), so a late retry cannot stop the next answer. True if it took effect.
        A Redis error propagates: Slack gets a 500 and retries.
        """
        fresh = [
            self.breaker.call(self.ack_state.add_once, STOP_SEEN.key(key), "1", STOP_SEEN.ttl)
            for key in dedup_keys(job, event_id)
        ]
        metrics.accepted(job.kind, all(fresh))
        if not all(fresh):
            log.info("duplicate stop %s in %s (ts %s)", event_id or "", job.session_id, job.ts)
            return False
        request_stop(self.state, job.session_id, STOP_ANY)
        log.info(
            "stop requested %s in %s by %s (ts %s)",
            event_id or "",
            job.session_id,
            job.user,
            job.ts,
        )
        return True

    def is_joined(self, job: Job) -> bool:
        """Is the bot in this thread? Asked of every thread reply before the ack (short
        timeouts, breaker). Redis's "no" is final while its data is intact since before
        the thread began (State.is_joined); else the session store says, and is noted."""
        scope = shard_of(job.session_id)
        try:
            known = self.breaker.call(self.ack_state.is_joined, job.session_id, scope=scope)
        except RedisError as exc:  # the reply reaches `accept`, which holds it
            log.warning("could not ask Redis whether %s is joined: %s", job.session_id, exc)
            return self.sessions.exists(job.session_id)
        if known is not None:
            return known
        joined = self.sessions.exists(job.session_id)
        with contextlib.suppress(RedisError):  # asked again next time
            self.breaker.call(self.ack_state.note_joined, job.session_id, joined, scope=scope)
        return joined
