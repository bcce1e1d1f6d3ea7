"""Parts of scripts/soak.py: what it watches (answers as they arrive, the bot logs' recovery
paths) and the chaos it causes (SIGKILL / SIGTERM of bot processes). The moto process it
runs besides the bot is scripts/_launch.py MotoProcess."""

from __future__ import annotations

import json
import random
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.fakes._http import FakeHTTPServer
from tests.fakes.openai_server import FakeOpenAI, default_reply
from tests.fakes.slack_api import Call, FakeSlack
from tests.fakes.slack_view import MessageView, is_stale
from tests.support.chaos_cluster import Cluster
from tests.support.chaos_courier import Ledger
from tests.support.chaos_tokens import asked

CHANNEL = "C1"


def _quiet_handle_error(self: Any, request: Any, client_address: Any) -> None:
    if not isinstance(sys.exc_info()[1], ConnectionError):
        FakeHTTPServer.__base__.handle_error(self, request, client_address)  # type: ignore[union-attr]


def quiet_fake_servers() -> None:
    """The fakes answer killed workers into dead sockets: expected here, not worth a trace."""
    FakeHTTPServer.handle_error = _quiet_handle_error  # type: ignore[method-assign]


def log(msg: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def shown(slack: FakeSlack) -> list[MessageView]:
    """The bot's replies in threads as a user sees them now, finished: not deleted, not
    still streaming, no Stop button, not empty."""
    return [
        m
        for m in slack.bot_messages(CHANNEL)
        if m.thread_ts and m.thread_ts != m.ts and not is_stale(m)
    ]


class Observer:
    """Follows what the threads show and the model requests as they arrive: which tokens
    are answered, when. An answer is a finished bot message whose visible text is a model
    reply (the fake model echoes the newest user message); the time it was answered is
    when it was first seen finished with that text (polled every 0.1 s)."""

    def __init__(self, slack: FakeSlack, openai: FakeOpenAI) -> None:
        self.slack, self.openai = slack, openai
        self.answered: dict[str, float] = {}
        self.cond = threading.Condition()
        self._by_reply: dict[str, list[str]] = {}
        self._seen_requests = 0
        self._first_seen: dict[tuple[str, str], float] = {}  # (ts, text) -> time.time()
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="observer", daemon=True)

    def start(self) -> Observer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self.poll()

    def poll(self) -> None:
        requests = list(self.openai.requests)
        for req in requests[self._seen_requests :]:
            self._by_reply.setdefault(default_reply(req.body), asked(req.body))
        self._seen_requests = len(requests)
        now = time.time()
        fresh = {}
        for message in shown(self.slack):
            at = self._first_seen.setdefault((message.ts, message.text), now)
            for token in self._by_reply.get(message.text, []):
                if token not in self.answered:
                    fresh.setdefault(token, at)
        if fresh:
            with self.cond:
                for token, at in fresh.items():
                    self.answered.setdefault(token, at)
                self.cond.notify_all()

    def answers(self) -> list[Call]:
        """What the threads show at the end, one chat.postMessage-like call per visible
        finished bot message (a message updated in place or deleted and posted anew counts
        once), at the time it was first seen so, for tests.support.chaos_accounting.account."""
        self.poll()
        calls = [
            Call(
                "chat.postMessage",
                {"channel": m.channel, "thread_ts": m.thread_ts, "text": m.text, "ts": m.ts},
                None,
                self._first_seen.get((m.ts, m.text), time.time()),
            )
            for m in shown(self.slack)
        ]
        return sorted(calls, key=lambda c: c.at)

    def wait(self, tokens: list[str], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not all(t in self.answered for t in tokens):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(min(left, 0.5))
        return True


def delivery_counts(slack: FakeSlack) -> str:
    """How answers reached the threads (informational)."""
    streamed = sum(1 for m in list(slack.streams.messages.values()) if not m["streaming"])
    counts = {
        name: len(slack.calls(method, include_failed=False))
        for name, method in (
            ("posted", "chat.postMessage"),
            ("updated", "chat.update"),
            ("deleted", "chat.delete"),
        )
    }
    return f"answers streamed {streamed}, " + ", ".join(f"{k} {n}" for k, n in counts.items())


class Chaos:
    """Every `kill_every` s SIGKILL a random process and refill its slot (in the background,
    so the cadence holds); every `sigterm_every` s SIGTERM one. At least one stays up."""

    def __init__(
        self, cluster: Cluster, rng: random.Random, kill_every: float, sigterm_every: float
    ) -> None:
        self.cluster, self.rng = cluster, rng
        self.kill_every, self.sigterm_every = kill_every, sigterm_every
        self.kills: Counter[str] = Counter()
        self.sigterms: list[tuple[str, int | None, float]] = []
        self.errors: list[str] = []
        self._busy: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []
        self.thread = threading.Thread(target=self._run, name="chaos", daemon=True)

    def start(self) -> Chaos:
        if self.kill_every > 0 or self.sigterm_every > 0:
            self.thread.start()
        return self

    def stop(self) -> None:
        """Stop, and wait until every slot serves again."""
        self._stop.set()
        if self.thread.is_alive():
            self.thread.join(60)
        for worker in self._workers:
            worker.join(90)

    def _run(self) -> None:
        now = time.monotonic()
        next_kill = now + self.kill_every if self.kill_every > 0 else float("inf")
        next_term = now + self.sigterm_every if self.sigterm_every > 0 else float("inf")
        while not self._stop.wait(max(0.0, min(next_kill, next_term) - time.monotonic())):
            action = "kill" if next_kill <= next_term else "term"
            if action == "kill":
                next_kill += self.kill_every * self.rng.uniform(0.5, 1.5)
            else:
                next_term += self.sigterm_every * self.rng.uniform(0.8, 1.2)
            with self._lock:
                idle = [i for i in range(self.cluster.size) if i not in self._busy]
                if len(idle) < 2 and self.cluster.size > 1:
                    continue  # keep at least one process serving
                slot = self.rng.choice(idle)
                self._busy.add(slot)
            mode = self.rng.choice(["group", "worker"]) if action == "kill" else "term"
            worker = threading.Thread(target=self._hit, args=(slot, mode), daemon=True)
            self._workers.append(worker)
            worker.start()

    def _hit(self, slot: int, mode: str) -> None:
        try:
            name = self.cluster.slots[slot].name
            if mode == "term":
                code, took = self.cluster.terminate(slot)
                self.sigterms.append((name, code, took))
                if code != 0:
                    self.errors.append(f"{name} exited {code} {took:.1f}s after SIGTERM")
                    self.cluster.slots[slot].kill()
                self.cluster.refill(slot)
            else:
                self.cluster.kill(slot, mode)
                self.kills[mode] += 1
        except Exception as exc:  # reported at the end
            self.errors.append(f"slot {slot} {mode}: {exc!r}")
        finally:
            with self._lock:
                self._busy.discard(slot)


RECOVERY_LOGS = {  # bot log lines of the recovery paths (informational)
    "replayed a stored answer": "replaying the stored answer",
    "found already posted": "was already posted",
    "dropped an old-layout partial turn": "messages of an interrupted turn",
    "turn retried after an error": ": turn failed",
    "inbox replays": "queued again from the durable inbox",
    "replayed but already handled": "was handled before the state store lost it",
}


def recovery_counts(cluster: Cluster) -> str:
    texts = [bot.log_text() for bot in cluster.every]
    return ", ".join(
        f"{name} {sum(t.count(needle) for t in texts)}" for name, needle in RECOVERY_LOGS.items()
    )


def dump(
    path: Path,
    ledger: Ledger,
    slack: FakeSlack,
    openai: FakeOpenAI,
    cluster: Cluster,
    started: float,
    **extra: Any,
) -> None:
    """Everything the accounting used, and `extra`, for a post-mortem (times: time.time())."""
    offset = time.time() - time.monotonic()  # FakeOpenAI times are monotonic
    data = {
        "deliveries": [
            {
                "thread": d.thread,
                "text": d.text,
                "sent_at": d.sent_at,
                "acked_at": d.acked_at,
                "attempts": [vars(a) for a in d.attempts],
            }
            for d in ledger.deliveries
        ],
        "bot_messages": [vars(m) for m in slack.bot_messages(CHANNEL, include_deleted=True)],
        "stale": [m.ts for m in slack.stale_messages()],
        "model_requests": [
            {
                "model": r.body.get("model"),
                "asked": asked(r.body),
                "started": r.started + offset,
                "finished": r.finished + offset if r.finished else None,
                "status": r.status,
            }
            for r in list(openai.requests)
        ],
        "cluster_events": cluster.events,
        **extra,
    }
    path.write_text(json.dumps(data, indent=1))
    log(f"wrote {path}")


def settle(slack: FakeSlack, openai: FakeOpenAI, quiet: float = 3.0, limit: float = 30.0) -> None:
    """Wait until no model call runs and no Slack call came for `quiet` seconds."""
    deadline = time.monotonic() + limit
    last = (-1, -1)
    calm_since = time.monotonic()
    while time.monotonic() < deadline:
        now = (len(openai.requests), len(slack.calls()))
        busy = any(not r.finished for r in list(openai.requests))
        if now != last or busy:
            last, calm_since = now, time.monotonic()
        elif time.monotonic() - calm_since >= quiet:
            return
        time.sleep(0.2)
