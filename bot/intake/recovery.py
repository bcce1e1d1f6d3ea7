"""Messages Redis does not have: the durable inbox queues them again.

Two ways a message acked by the ack path can be missing from Redis:
- Redis is new or lost its data (a restart without persistence, a failover, a flush): the
  first process to notice (`State.claim_epoch`, asked on every worker sweep and by the ack
  path) replays the recent durable records (bot/store/inbox.py);
- Redis was down when the message came: it waits in the durable inbox with a marker
  (bot/intake/outage.py); every worker sweep looks for markers that any process left.
"""

from __future__ import annotations

import itertools
import logging
import time
from concurrent.futures import Executor

from bot.intake.outage import SETTLE_SECONDS, Pending
from bot.store.dedup import dedup_keys
from bot.store.inbox import Inbox, replay
from bot.store.state import State

log = logging.getLogger(__name__)


class Recovery:
    def __init__(self, state: State, inbox: Inbox, pending: Pending, background: Executor) -> None:
        """`pending`: the messages held while Redis was down (the ack path's);
        `background`: where replays and sweeps run, off the caller's thread."""
        self.state = state
        self.inbox = inbox
        self.pending = pending
        self.background = background

    def replay_soon(self) -> None:
        """This caller claimed the recovery of an emptied Redis: replay, off this thread."""
        self.background.submit(self.replay_inbox)

    def recover_if_emptied(self, session_id: str | None = None) -> None:
        """Redis is new or lost its data (all of it, or `session_id`'s shard): the one caller
        that claims the recovery replays the durable inbox, off this thread. Asked on
        every worker sweep (and before each accept, through the ack path's breaker)."""
        if self.state.claim_epoch(session_id):
            self.replay_soon()

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
