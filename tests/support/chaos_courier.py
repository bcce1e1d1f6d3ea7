"""Slack-like delivery for chaos tests and scripts/soak.py.

- `Courier`: delivers a Slack event the way Slack does: to some live process, and on a
  timeout, connection error or non-2xx again (same event_id, X-Slack-Retry-Num), possibly
  to another process.
- `Delivery` / `Attempt`: what happened to one event; `Ledger`: every delivery, in
  acknowledgement order per thread.
"""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field

from tests.fakes.slack_payloads import event_callback
from tests.support.bot_process import BotProcess
from tests.support.chaos_cluster import Cluster

SLACK_MAX_RETRY = 3


# --- Slack-like delivery ---------------------------------------------------------------
@dataclass(frozen=True)
class Attempt:
    process: str
    retry: int
    outcome: str  # HTTP status, or the exception's name
    started: float  # time.time()
    ended: float


@dataclass
class Delivery:
    thread: str  # root ts of the thread
    text: str  # the token
    ts: str
    event_id: str
    sent_at: float  # time.time() of the first attempt
    acked_at: float | None = None
    attempts: list[Attempt] = field(default_factory=list)
    seq: int = 0  # acknowledgement order within the thread (set by Ledger)

    @property
    def acked(self) -> bool:
        return self.acked_at is not None


class Courier:
    """Deliver events like Slack: on timeout / connection error / non-2xx, retry (same
    event_id, X-Slack-Retry-Num) on a random live process, until acked or out of attempts."""

    def __init__(
        self,
        cluster: Cluster,
        rng: random.Random | None = None,
        *,
        timeout: float = 5.0,
        max_attempts: int | None = None,
        give_up_after: float = 60.0,
        backoff: float = 0.2,
        growth: float = 1.0,
        max_retry_num: int = SLACK_MAX_RETRY,
    ) -> None:
        self.cluster = cluster
        self.rng = rng or random.Random()
        self._rng_lock = threading.Lock()
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.give_up_after = give_up_after
        self.backoff = backoff
        self.growth = growth  # each wait `growth` times the last (Slack: 1 min, then 5 min)
        self.max_retry_num = max_retry_num

    def pick(self, avoid: str | None = None) -> BotProcess | None:
        live = self.cluster.live()
        others = [b for b in live if b.name != avoid] or live
        with self._rng_lock:
            return self.rng.choice(others) if others else None

    def deliver(
        self,
        event: dict,
        thread: str,
        text: str,
        *,
        event_id: str | None = None,
        first: BotProcess | None = None,
        retry_from: int = 0,
    ) -> Delivery:
        payload = event_callback(event, event_id=event_id)
        delivery = Delivery(thread, text, event["ts"], payload["event_id"], time.time())
        give_up = time.monotonic() + self.give_up_after
        retry, last = retry_from, None
        while True:
            bot = first if (first is not None and not delivery.attempts) else self.pick(last)
            if bot is None:
                outcome = "no live process"
            else:
                started = time.time()
                try:
                    retry_num = min(retry, self.max_retry_num) or None
                    status, _ = bot.post(
                        payload,
                        timeout=self.timeout,
                        retry_num=retry_num,
                        retry_reason="http_timeout" if retry_num else None,
                    )
                    outcome = str(status)
                except OSError as exc:
                    outcome = type(exc).__name__
                delivery.attempts.append(Attempt(bot.name, retry, outcome, started, time.time()))
                last = bot.name
                if outcome == "200":
                    delivery.acked_at = time.time()
                    return delivery
            retry += 1
            if self.max_attempts is not None and len(delivery.attempts) >= self.max_attempts:
                return delivery
            if time.monotonic() > give_up:
                return delivery
            time.sleep(self.backoff * self.growth ** (len(delivery.attempts) - 1))


class Ledger:
    """Thread-safe record of deliveries; `seq` is the acknowledgement order in a thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.deliveries: list[Delivery] = []
        self._seq: dict[str, int] = defaultdict(int)

    def add(self, delivery: Delivery) -> Delivery:
        with self._lock:
            self._seq[delivery.thread] += 1
            delivery.seq = self._seq[delivery.thread]
            self.deliveries.append(delivery)
        return delivery

    def threads(self) -> dict[str, list[Delivery]]:
        with self._lock:
            out: dict[str, list[Delivery]] = defaultdict(list)
            for d in self.deliveries:
                out[d.thread].append(d)
        return {k: sorted(v, key=lambda d: d.seq) for k, v in out.items()}
