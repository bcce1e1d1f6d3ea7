"""Redis restarts and outages for scripts/soak.py, and why the messages they cost were lost.

`RedisChaos` stops the soak's redis-server (no persistence: every key is gone) while the bot
processes keep running, starts an empty one on the same port after a short outage, and
times how long the live processes take to answer /readyz 200 again. Beside those restarts
it causes short outages that keep the data: the server frozen (SIGSTOP, then SIGCONT: open
connections and new ones hang) or gone with its port closed (`SHUTDOWN SAVE`, then a server
that loads the dump: connections refused). `lost_causes()` reads the bot logs to say, for
each lost message, what became of it.
"""

from __future__ import annotations

import random
import re
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from tests.fakes.redis_server import STOP_MODES, RedisServer
from tests.support.chaos_cluster import Cluster
from tests.support.chaos_courier import Delivery

HOW = {
    "kill": "SIGKILL",
    "shutdown": "SHUTDOWN NOSAVE",  # empty restarts (STOP_MODES)
    "pause": "SIGSTOP",
    "refuse": "port closed",
}  # outages, data kept
OUTAGE_MODES = ("pause", "refuse")


@dataclass
class Outage:
    how: str  # a key of HOW
    down_at: float  # time.time() the server was stopped (frozen, closed)
    up_at: float | None = None  # time.time() it answered PING again
    recovered_at: float | None = None  # every live bot process answered /readyz 200


@dataclass
class Schedule:
    """About every `every` s (x0.7-1.3), down for `down` s (uniform), at most `limit` times
    (0: until stopped); `every` 0: never."""

    every: float
    down: tuple[float, float] = (0.5, 2.0)
    limit: int = 0


class RedisChaos:
    """Empty restarts on `restarts`' schedule, by SIGKILL or SHUTDOWN NOSAVE (at random);
    outages keeping the data on `outages`' schedule, SIGSTOP or refused (at random); one at
    a time. After each, wait up to `recover_timeout` s for every live bot process to answer
    /readyz 200; one that does not is an error."""

    def __init__(
        self,
        server: RedisServer,
        cluster: Cluster,
        rng: random.Random,
        restarts: Schedule,
        outages: Schedule | None = None,
        recover_timeout: float = 30.0,
    ) -> None:
        self.server, self.cluster, self.rng = server, cluster, rng
        self.plans = {"restart": restarts, "outage": outages or Schedule(0)}
        self.recover_timeout = recover_timeout
        self.restarts: list[Outage] = []
        self.outages: list[Outage] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="redis-chaos", daemon=True)

    @property
    def enabled(self) -> bool:
        return any(p.every > 0 for p in self.plans.values())

    def start(self) -> RedisChaos:
        if self.enabled:
            self.thread.start()
        return self

    def stop(self) -> None:
        """No more faults; one under way ends first (Redis is never left down)."""
        self._stop.set()
        if self.thread.is_alive():
            longest = max(p.down[1] for p in self.plans.values())
            self.thread.join(longest + self.recover_timeout + 30)

    def _run(self) -> None:
        now = time.monotonic()
        due = {
            kind: now + p.every * self.rng.uniform(0.7, 1.3) if p.every > 0 else float("inf")
            for kind, p in self.plans.items()
        }
        while min(due.values()) < float("inf") and not self._stop.wait(
            max(0.0, min(due.values()) - time.monotonic())
        ):
            kind = min(due, key=lambda k: due[k])
            plan = self.plans[kind]
            due[kind] += plan.every * self.rng.uniform(0.7, 1.3)
            done = self.restart() if kind == "restart" else self.outage()
            if (
                done is None
                or plan.limit
                and len(self.restarts if kind == "restart" else self.outages) >= plan.limit
            ):
                due[kind] = float("inf")

    def restart(self) -> Outage | None:
        """Stop Redis and start it again empty."""
        outage = Outage(self.rng.choice(STOP_MODES), time.time())
        self.restarts.append(outage)
        down = self.rng.uniform(*self.plans["restart"].down)
        return self._cause(outage, lambda: self.server.restart(down_seconds=down, how=outage.how))

    def outage(self) -> Outage | None:
        """Redis unreachable for a while, then back with every key."""
        outage = Outage(self.rng.choice(OUTAGE_MODES), time.time())
        self.outages.append(outage)
        down = self.rng.uniform(*self.plans["outage"].down)

        def freeze() -> None:
            self.server.pause()
            try:
                time.sleep(down)
            finally:
                self.server.resume()
            self.server.wait_ready()

        return self._cause(
            outage,
            freeze if outage.how == "pause" else lambda: self.server.bounce(down_seconds=down),
        )

    def _cause(self, outage: Outage, act: Callable[[], None]) -> Outage | None:
        try:
            act()
        except Exception as exc:  # reported at the end; the run cannot go on without Redis
            self.errors.append(f"redis-server did not come back ({outage.how}): {exc!r}")
            self._stop.set()
            return None
        outage.up_at = time.time()
        self._wait_recovered(outage)
        return outage

    def _wait_recovered(self, outage: Outage) -> None:
        deadline = time.monotonic() + self.recover_timeout
        while True:
            sick = [b.name for b in self.cluster.live() if b.health(timeout=2) != 200]
            if not sick:
                outage.recovered_at = time.time()
                return
            if time.monotonic() > deadline:
                self.errors.append(
                    f"{sick} not healthy {self.recover_timeout:.0f} s after the "
                    f"Redis {HOW[outage.how]} at {time.strftime('%H:%M:%S')}"
                )
                return
            time.sleep(0.1)

    def wait_healthy(self, timeout: float = 60.0) -> str:
        """After the chaos: wait until every slot's process answers /readyz 200."""
        started = time.monotonic()
        while True:
            sick = {b.name: b.health(timeout=2) for b in self.cluster.slots}
            sick = {name: status for name, status in sick.items() if status != 200}
            if not sick:
                return f"after {time.monotonic() - started:.1f} s"
            if time.monotonic() - started > timeout:
                self.errors.append(f"not healthy {timeout:.0f} s after the chaos: {sick}")
                return f"NO, after {timeout:.0f} s still {sick}"
            time.sleep(0.2)

    def soon_after_ack(self, delivery: Delivery, within: float = 30.0) -> bool:
        """Whether Redis restarted empty within `within` s after this delivery was acked."""
        acked = delivery.acked_at
        return acked is not None and any(
            acked <= o.down_at <= acked + within for o in self.restarts
        )

    def report(self) -> str:
        return "\n".join(
            (
                _line("Redis restarts      ", self.restarts),
                _line("Redis outages       ", self.outages),
            )
        )


def _line(title: str, faults: list[Outage]) -> str:
    if not faults:
        return f"{title} 0"
    kinds = Counter(o.how for o in faults)
    downs = [o.up_at - o.down_at for o in faults if o.up_at]
    recoveries = [o.recovered_at - o.up_at for o in faults if o.up_at and o.recovered_at]
    line = f"{title} {len(faults)} (" + ", ".join(f"{HOW[k]} {n}" for k, n in sorted(kinds.items()))
    if downs:
        line += f"; down {min(downs):.1f}-{max(downs):.1f} s"
    if recoveries:
        line += (
            f"; all processes healthy {statistics.median(recoveries):.2f} s after "
            f"(max {max(recoveries):.2f} s)"
        )
    return line + ")"


# bot log lines (bot/serve/runtime.py) saying what became of a message, by its ts
_QUEUED = re.compile(r" (queued|duplicate) (\w+) \S* ?in \S+ \(ts (\d+\.\d+)\)")
_REFUSED = re.compile(r"could not queue (\d+\.\d+) on Slack's last retry")


def lost_causes(
    lost: list[Delivery], logs: list[str], chaos: RedisChaos, stored: set[str]
) -> Counter[str]:
    """What became of each lost message, from the bot logs (INFO) and `stored`, the tokens
    in the thread's memory (its final model request):
    - "wiped from the inbox": queued, and Redis restarted within 30 s of its ack;
    - "answer stored, never posted, wiped": the same, but its turn had been committed (the
      thread's memory holds it and an answer nobody saw);
    - "queued, NO Redis restart soon after": queued and never answered anyway;
    - "told to resend": Redis down on Slack's last retry, the bot posted "can't take
      messages right now" (bot/serve/runtime.py UNAVAILABLE) and acked;
    - "acked as a duplicate only": every delivery was a duplicate of a queued job;
    - "never queued (thread not joined?)": acked with no log line at all; the bot ignores
      replies in threads it has not joined, at debug level only.
    """
    seen: dict[str, set[str]] = {}
    for text in logs:
        for kind, _, ts in _QUEUED.findall(text):
            seen.setdefault(ts, set()).add(kind)
        for ts in _REFUSED.findall(text):
            seen.setdefault(ts, set()).add("refused")
    causes: Counter[str] = Counter()
    for d in lost:
        kinds = seen.get(d.ts, set())
        if "queued" in kinds and not chaos.soon_after_ack(d):
            causes["queued, NO Redis restart soon after"] += 1
        elif "queued" in kinds:
            causes[
                "answer stored, never posted, wiped" if d.text in stored else "wiped from the inbox"
            ] += 1
        elif "refused" in kinds:
            causes["told to resend"] += 1
        elif "duplicate" in kinds:
            causes["acked as a duplicate only"] += 1
        else:
            causes["never queued (thread not joined?)"] += 1
    return causes
