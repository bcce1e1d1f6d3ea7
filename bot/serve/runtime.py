"""Runtime: wires configuration to the state store, session store, agent, Slack and worker."""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import itertools
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from redis.exceptions import RedisError
from slack_sdk import WebClient
from slack_sdk.oauth.state_store import OAuthStateStore

from bot.agent.personas import Personas, load_personas
from bot.answer.reply import Replier
from bot.answer.stop import STOP_ANY, request_stop
from bot.config.settings import Config
from bot.errors import TRANSIENT_ERRORS
from bot.intake.outage import SETTLE_SECONDS, Breaker, Pending
from bot.jobs import Job
from bot.obs import logs, metrics, telemetry
from bot.slack.clients import SlackClients, slack_client
from bot.slack.installations import build_stores
from bot.slack.payloads import LAST_SLACK_RETRY
from bot.store import lifecycle
from bot.store.blobs import S3Blobs
from bot.store.connect import build_state
from bot.store.dedup import dedup_keys
from bot.store.facts import REFUSALS, STOP_SEEN
from bot.store.inbox import Inbox, replay
from bot.store.redis_keys import shard_of
from bot.store.sessions import SessionStore
from bot.store.state import FULL, QUEUED, State
from bot.turns.conversation import Conversation
from bot.turns.files import FileLimits
from bot.turns.thread_context import ThreadReader
from bot.turns.worker import Worker

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


@dataclass
class Runtime:
    config: Config
    client: WebClient
    state: State
    store: SessionStore
    personas: Personas
    worker: Worker
    inbox: Inbox
    slack: SlackClients  # the client of each job's installation (OAuth: one per workspace)
    background: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(4, thread_name_prefix="background")
    )
    oauth_states: OAuthStateStore | None = None  # OAuth only: Bolt's install flow uses it
    # The ack path's Redis: short timeouts, behind a breaker (bot/intake/outage.py); messages it
    # could not queue wait in `pending` (and the durable inbox) until Redis is back.
    ack_state: State = field(init=False)
    breaker: Breaker = field(init=False, default_factory=Breaker)
    pending: Pending = field(init=False)

    def __post_init__(self) -> None:
        self.ack_state = self.state.quick()
        self.breaker.on_recover = lambda scope: self.ack_state.hold_turns(SETTLE_SECONDS, scope)
        self.pending = Pending(self.inbox.blobs, self._queue_held, self._settle, shard_of)

    def _queue_held(self, job: Job, keys: list[str]) -> bool:
        """Queue a held message: the flusher asks Redis every FLUSH_SECONDS, even while the
        ack path's breaker still skips it, so held messages land as soon as it is back."""
        # never refused: it was acked while the cap could not be checked
        return self.breaker.call(
            self.ack_state.accept, job, keys, scope=shard_of(job.session_id), probe=True
        )

    def _offer(self, job: Job, keys: list[str], scope: int) -> bool:
        """Queue within the thread's cap (THREAD_QUEUE_MAX); a message past it is taken
        (acked, deduped) but not queued, and its author is told (off this thread)."""
        outcome = self.breaker.call(
            self.ack_state.offer, job, keys, self.config.thread_queue_max, scope=scope
        )
        if outcome == FULL:
            log.warning(
                "thread %s already has %d messages waiting: %s not taken",
                job.session_id,
                self.config.thread_queue_max,
                job.ts,
            )
            self.background.submit(contextvars.copy_context().run, self._refuse, job)
        return outcome == QUEUED

    def _settle(self, session_id: str) -> None:
        scope = shard_of(session_id)
        self.breaker.call(self.ack_state.hold_turns, SETTLE_SECONDS, scope, scope=scope, probe=True)

    @classmethod
    def build(cls, config: Config) -> Runtime:
        client = slack_client(config)
        installations, states = build_stores(config) if config.oauth else (None, None)
        if config.oauth:
            log.info(
                "OAuth: installs at /slack/install, installations kept in %s",
                "S3" if config.session_bucket else config.session_dir / "installations",
            )
        slack = SlackClients(
            config, client, lambda token: slack_client(config, token), installations
        )
        state = build_state(config)
        store = SessionStore(
            bucket=config.session_bucket,
            prefix=config.session_prefix,
            directory=config.session_dir,
            facts=state,
        )
        if not config.session_bucket:
            log.warning("SESSION_BUCKET is not set: sessions live under %s", config.session_dir)
        personas = load_personas(config)
        inbox = Inbox(store.blobs.quick())  # on the ack path: short timeouts, few retries
        conversation = Conversation(
            state,
            store,
            personas,
            Replier(slack, personas.several),
            streaming=config.streaming,
            reader=ThreadReader.from_config(config, client),
            bot_user_id=slack.bot_user_id,
            file_limits=FileLimits(
                max_bytes=config.file_max_bytes,
                max_files=config.turn_max_files,
                max_turn_bytes=config.turn_max_file_bytes,
            ),
            inbox=inbox,
        )
        worker = Worker(state, conversation, concurrency=config.turn_concurrency)
        runtime = cls(
            config, client, state, store, personas, worker, inbox, slack, oauth_states=states
        )
        worker.on_sweep = runtime.on_sweep
        return runtime

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
            self.background.submit(
                contextvars.copy_context().run, self.worker.conversation.progress.waiting, job
            )
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
                self.background.submit(self.replay_inbox)
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
            text = QUEUE_FULL.format(count=self.config.thread_queue_max)
            Replier(self.slack, False).ephemeral(
                job.channel, job.user, text, thread_ts=job.reply_thread_ts, job=job
            )

    def recover_if_emptied(self, session_id: str | None = None) -> None:
        """Redis is new or lost its data (all of it, or `session_id`'s shard): the one caller
        that claims the recovery replays the durable inbox, off this thread. Asked on
        every worker sweep (and before each accept, through the ack path's breaker)."""
        if self.state.claim_epoch(session_id):
            self.background.submit(self.replay_inbox)

    def on_sweep(self) -> None:
        """The worker's sweep: recover an emptied Redis; now and then, queue the messages
        any process held in the durable inbox during a Redis outage (off this thread)."""
        self.recover_if_emptied()
        self.background.submit(self._sweep_pending)

    def _sweep_pending(self) -> None:
        try:
            self.pending.sweep()
        except Exception as exc:
            log.warning("looking for messages held during a Redis outage failed: %s", exc)

    def replay_inbox(self) -> None:
        """The state store is new or lost its data: queue the recent durable records again.
        Retried until it works: until then, those messages exist only in storage."""
        for attempt in itertools.count():
            try:
                queued = replay(
                    self.inbox, lambda job: self.state.accept(job, dedup_keys(job, None))
                )
                # messages held meanwhile by any process land before turns go on
                self.state.replay_done(SETTLE_SECONDS if queued else 0.0)
                return
            except Exception as exc:
                log.error("replaying the durable inbox failed (%s); retrying", exc)
                time.sleep(min(2.0**attempt, 30.0))

    def take(self, job: Job, event_id: str | None = None, retry: int = 0) -> bool:
        """A routed message: a stop word acts at once (never queued behind the answer it
        stops); anything else is deduped and queued (`accept`)."""
        if job.kind == "stop":
            return self.request_stop(job, event_id)
        return self.accept(job, event_id, retry)

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
            return self.store.exists(job.session_id)
        if known is not None:
            return known
        joined = self.store.exists(job.session_id)
        with contextlib.suppress(RedisError):  # asked again next time
            self.breaker.call(self.ack_state.note_joined, job.session_id, joined, scope=scope)
        return joined

    def keep_lifecycle(self) -> None:
        """File store: expire idle sessions and old inbox records hourly. S3 expires them
        itself by a lifecycle rule: check the bucket has the right one."""
        ttl, blobs = self.config.session_ttl_days, self.store.blobs
        if isinstance(blobs, S3Blobs):

            def check() -> None:
                if problem := lifecycle.check_bucket(blobs, ttl, self.config.oauth):
                    log.warning("%s", problem)

            self.background.submit(check)
        else:
            lifecycle.start_sweeper(blobs, ttl, on_expired=self.store.forget_cached)

    def health(self) -> dict[str, str]:
        checks = {}
        for name, probe in (("state", self.state.ping), ("storage", self.store.ping)):
            try:
                probe()
                checks[name] = "ok"
            except Exception as exc:
                checks[name] = f"error: {type(exc).__name__}"
        return checks
