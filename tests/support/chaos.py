"""Chaos plumbing shared by tests/test_chaos.py and scripts/soak.py.

- `Cluster`: N real bot processes (gunicorn, as in the Procfile) that can be SIGKILLed (whole
  process group, or only the gunicorn worker so the master boots a new one), SIGTERMed and
  restarted while traffic flows. Each process gets its own MODEL_ID, so every model request
  recorded by FakeOpenAI says which process made it.
- `Courier`: delivers a Slack event the way Slack does: to some live process, and on a
  timeout, connection error or non-2xx again (same event_id, X-Slack-Retry-Num), possibly
  to another process.
- `account()`: who answered what. Message texts are tokens `<p><thread:03d>m<msg:03d>-<hex6>`
  (unique; one never occurs inside another, nor across the boundary of two coalesced texts).
  The fake model echoes the newest user message, so a post is matched to the model request
  that produced it (`default_reply(body) == post text`); the request's newest user message
  names the messages that post answers. A message is answered once when exactly one post
  covers it; lost when the bot acked it (2xx) and no post covers it; unanswered when it was
  never acked (Slack gave up retrying, and nobody was told) and no post covers it.
- `history_problems()`: what is wrong with the history a model request carries.
"""

from __future__ import annotations

import contextlib
import itertools
import random
import re
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fakes._http import ServerThread
from tests.fakes.openai_server import FakeOpenAI, Request, default_reply, message_text
from tests.fakes.s3_server import FaultyProxy, _ProxyHandler
from tests.fakes.slack_api import Call, FakeSlack
from tests.fakes.slack_payloads import event_callback
from tests.support.bot_process import BotProcess
from tests.support.wait import wait_until

TOKEN = re.compile(r"[a-z]\d{3}m\d{3}-[0-9a-f]{6}")
WINDOW_SIZE = 40  # bot.agent.turn.WINDOW_SIZE: longer histories are trimmed from the front
SLACK_MAX_RETRY = 3


def make_token(prefix: str, thread: int, msg: int) -> str:
    assert len(prefix) == 1 and prefix.isalpha() and prefix.islower()
    return f"{prefix}{thread:03d}m{msg:03d}-{uuid.uuid4().hex[:6]}"


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text or "")


def model_id(process_name: str) -> str:
    return f"model-{process_name}"


# --- model requests --------------------------------------------------------------------
def chat(body: dict[str, Any]) -> list[tuple[str, str]]:
    """(role, text) of the non-system messages of a model request."""
    return [
        (m["role"], message_text(m)) for m in body.get("messages", []) if m.get("role") != "system"
    ]


def last_user_text(body: dict[str, Any]) -> str:
    users = [text for role, text in chat(body) if role == "user"]
    return users[-1] if users else ""


def asked(body: dict[str, Any]) -> list[str]:
    """Tokens of the newest user message: the messages this request answers."""
    return tokens(last_user_text(body))


def asked_ever(body: dict[str, Any]) -> set[str]:
    """Tokens of every user message of a request: the thread's memory and its question."""
    return {t for role, text in chat(body) if role == "user" for t in tokens(text)}


def history_problems(
    body: dict[str, Any], order: list[str], must: set[str], may: Iterable[str] = ()
) -> list[str]:
    """What is wrong with the history of a thread's final model request.

    order: the thread's tokens in acknowledgement order; must: tokens that have to be in the
    history exactly once (answered ones); may: tokens allowed at most once (e.g. lost with a
    Redis restart after being committed). Roles must alternate user/assistant starting and
    ending with a user message, every stored answer must be the echo of the question before
    it, and the tokens must appear in acknowledgement order. A history of WINDOW_SIZE or more
    messages may have lost its oldest turns to the sliding window: then the `must` tokens
    need only form a suffix.
    """
    problems = []
    messages = chat(body)
    roles = [role for role, _ in messages]
    expected = ["user" if i % 2 == 0 else "assistant" for i in range(len(roles))]
    if not roles or roles != expected or roles[-1] != "user":
        problems.append(f"roles do not alternate user/assistant ending with user: {roles}")
    for (r1, question), (r2, answer) in itertools.pairwise(messages):
        if r1 == "user" and r2 == "assistant" and not answer.startswith(f"echo: {question} ["):
            problems.append(f"stored answer {answer[:80]!r} is not the answer to {question!r}")
    seen = [t for role, text in messages if role == "user" for t in tokens(text)]
    allowed = set(must) | set(may)
    counts = defaultdict(int)
    for t in seen:
        counts[t] += 1
    twice = sorted(t for t, n in counts.items() if n > 1)
    if twice:
        problems.append(f"asked twice in the history: {twice}")
    foreign = sorted(t for t in counts if t not in allowed)
    if foreign:
        problems.append(f"in the history but never answered (or not allowed): {foreign}")
    rank = {t: i for i, t in enumerate(order)}
    ranks = [rank.get(t, -1) for t in dict.fromkeys(seen)]
    if ranks != sorted(ranks):
        problems.append(f"history out of order: {list(dict.fromkeys(seen))}")
    needed = [t for t in order if t in must]
    missing = [t for t in needed if t not in counts]
    if missing:
        windowed = len(messages) >= WINDOW_SIZE - 1
        present = [t for t in needed if t in counts]
        is_suffix = present == needed[len(needed) - len(present) :]
        if not (windowed and is_suffix):
            problems.append(f"answered but missing from the history: {missing}")
    return problems


# --- S3 ------------------------------------------------------------------------------
class _ContinueHandler(_ProxyHandler):
    protocol_version = "HTTP/1.1"  # so http.server answers `Expect: 100-continue`


class ContinueProxy(FaultyProxy):
    """FaultyProxy that answers `Expect: 100-continue` as S3 does. FaultyProxy speaks
    HTTP/1.0, so botocore waits 1 s for the 100 before sending each PUT body: every commit
    and session creation through it takes seconds longer than against S3."""

    def __init__(self, target_url: str) -> None:
        super().__init__(target_url)
        self._thread = ServerThread(_ContinueHandler, self)


# --- processes -------------------------------------------------------------------------
class Cluster:
    """`size` bot processes on one Redis/S3/Slack/OpenAI; slots are killed and refilled."""

    LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

    def __init__(self, env: dict[str, str], log_dir: Path, size: int) -> None:
        self.env = env
        self.log_dir = log_dir
        self.size = size
        self.slots: list[BotProcess] = []
        self.every: list[BotProcess] = []  # all processes ever started (teardown, logs)
        self.events: list[tuple[float, str, str]] = []  # (time.time(), action, process)
        self._ready: set[str] = set()  # names of processes taking traffic
        self._lock = threading.Lock()
        self._generation = itertools.count()

    def _spawn(self, slot: int) -> BotProcess:
        name = f"{self.LETTERS[slot]}{next(self._generation)}"
        bot = BotProcess(name, {**self.env, "MODEL_ID": model_id(name)}, self.log_dir)
        with self._lock:
            self.every.append(bot)
        return bot.start()

    def start(self) -> Cluster:
        self.slots = [self._spawn(i) for i in range(self.size)]
        for bot in self.slots:
            bot.wait_ready()
            self._mark(bot, True)
        return self

    def _mark(self, bot: BotProcess, ready: bool) -> None:
        with self._lock:
            (self._ready.add if ready else self._ready.discard)(bot.name)

    def live(self) -> list[BotProcess]:
        with self._lock:
            return [b for b in self.slots if b.name in self._ready]

    def by_model(self, model: str) -> BotProcess | None:
        with self._lock:
            return next((b for b in self.every if model_id(b.name) == model), None)

    def log(self, action: str, bot: BotProcess) -> None:
        with self._lock:
            self.events.append((time.time(), action, bot.name))

    def kill(
        self, slot: int, mode: str = "group", then: Callable[[], None] | None = None
    ) -> BotProcess:
        """SIGKILL slot's process ("group": master + worker, then a new process on a new
        port; "worker": the gunicorn worker only, the master boots a new one), call `then`
        once it is dead, and wait until the slot serves again; returns the slot's process."""
        bot = self.slots[slot]
        self._mark(bot, False)
        if mode == "worker":
            killed = bot.kill_worker()
            self.log(f"SIGKILL worker {killed}", bot)
            if then is not None:
                then()
            bot.wait_ready()
            self._mark(bot, True)
            return bot
        bot.kill()
        self.log("SIGKILL group", bot)
        if then is not None:
            then()
        return self.refill(slot)

    def refill(self, slot: int) -> BotProcess:
        new = self._spawn(slot)
        with self._lock:
            self.slots[slot] = new
        new.wait_ready()
        self._mark(new, True)
        self.log("started", new)
        return new

    def terminate(self, slot: int, timeout: float = 35.0) -> tuple[int | None, float]:
        """SIGTERM slot's process; (exit code or None if still running, seconds taken)."""
        bot = self.slots[slot]
        self._mark(bot, False)
        started = time.monotonic()
        bot.terminate()
        self.log("SIGTERM", bot)
        code = bot.wait_exit(timeout)
        return code, time.monotonic() - started

    def cleanup(self) -> None:
        with self._lock:
            every = list(self.every)
        for bot in every:
            bot.terminate()  # all at once: each needs a moment to drain
        for bot in every:
            bot.cleanup()

    def log_tails(self, chars: int = 3000) -> str:
        return "\n".join(bot.log_tail(chars) for bot in self.every)


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


# --- accounting ------------------------------------------------------------------------
@dataclass
class Accounting:
    sent: int = 0
    acked: int = 0
    answered: int = 0
    doubled: dict[str, int] = field(default_factory=dict)  # token -> posts covering it
    lost: list[str] = field(default_factory=list)  # acked, never answered
    unanswered: list[str] = field(default_factory=list)  # never acked (Slack gave up) nor answered
    unacked_answered: int = 0
    out_of_order: dict[str, list[str]] = field(default_factory=dict)  # thread -> tokens
    other_posts: dict[str, list[str]] = field(default_factory=dict)  # thread -> post texts
    invalid_history: dict[str, list[str]] = field(default_factory=dict)  # thread -> problems
    latencies: list[float] = field(default_factory=list)  # seconds, send -> answer post
    answer_of: dict[str, int] = field(default_factory=dict)  # token -> index of its post
    final_requests: dict[str, dict[str, Any]] = field(default_factory=dict)

    @staticmethod
    def pct(values: list[float], q: float) -> float:
        if not values:
            return float("nan")
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    @property
    def ok(self) -> bool:
        return not (
            self.doubled
            or self.lost
            or self.unanswered
            or self.out_of_order
            or self.invalid_history
        )

    def figures(self) -> str:
        """The one-line verdict: `lost 0  unanswered 0  doubled 0  invalid 0`."""
        return (
            f"lost {len(self.lost)}  unanswered {len(self.unanswered)}  "
            f"doubled {len(self.doubled)}  invalid {len(self.invalid_history)}"
        )

    def summary(self) -> str:
        lat = self.latencies
        return (
            f"sent={self.sent} acked={self.acked} answered={self.answered} "
            f"doubled={len(self.doubled)} lost={len(self.lost)} "
            f"unanswered={len(self.unanswered)} "
            f"out_of_order={len(self.out_of_order)} invalid_history={len(self.invalid_history)}"
            f" p50={self.pct(lat, 0.5):.2f}s p99={self.pct(lat, 0.99):.2f}s"
            + (f"\n doubled: {self.doubled}" if self.doubled else "")
            + (f"\n lost: {self.lost}" if self.lost else "")
            + (f"\n unanswered: {self.unanswered}" if self.unanswered else "")
            + (f"\n out of order: {self.out_of_order}" if self.out_of_order else "")
            + (f"\n invalid history: {self.invalid_history}" if self.invalid_history else "")
        )


def account(
    threads: dict[str, list[Delivery]],
    posts: list[Call],
    requests: list[Request],
    channel: str,
    *,
    excused: Callable[[Delivery], bool] = lambda d: False,
    may_be_in_history: Callable[[Delivery], bool] = lambda d: False,
    no_history: Callable[[Delivery], bool] = lambda d: False,
    count: Callable[[Delivery], bool] = lambda d: True,
) -> Accounting:
    """Who answered what, per thread, from the recorded posts and model requests.

    excused(d): a message allowed to go unanswered (not counted as lost, or as unanswered
    if never acked), e.g. lost with a Redis that keeps nothing on restart.
    may_be_in_history(d): allowed in the history without an answer. no_history(d): must
    not be in the history (e.g. a model failure).
    count(d): whether d counts in the figures (markers need not); every delivery still
    counts for order and history.
    """
    result = Accounting()
    by_reply: dict[str, dict[str, Any]] = {}
    for req in requests:
        by_reply.setdefault(default_reply(req.body), req.body)
    thread_of = {d.text: d.thread for ds in threads.values() for d in ds}
    requests_of: dict[str, list[Request]] = defaultdict(list)
    for req in sorted(requests, key=lambda r: r.started):
        owners = {thread_of.get(t) for t in asked(req.body)} - {None}
        for owner in owners:
            requests_of[owner].append(req)  # type: ignore[index]

    for thread, deliveries in threads.items():
        mine = {d.text: d for d in deliveries}
        thread_posts = [
            c
            for c in posts
            if c.params.get("channel") == channel and c.params.get("thread_ts") == thread
        ]
        covering: dict[str, list[int]] = defaultdict(list)
        sequence: list[str] = []  # tokens in the order their answers were posted
        for index, post in enumerate(thread_posts):
            body = by_reply.get(post.params.get("text", ""))
            covered = [t for t in asked(body) if t in mine] if body else []
            if not covered:
                result.other_posts.setdefault(thread, []).append(post.params.get("text", ""))
            for t in covered:
                covering[t].append(index)
                if len(covering[t]) == 1:
                    sequence.append(t)
                    result.answer_of[t] = index
                    if count(mine[t]):
                        result.latencies.append(post.at - mine[t].sent_at)
        for d in deliveries:
            if not count(d):
                continue
            result.sent += 1
            result.acked += d.acked
            n = len(covering.get(d.text, []))
            if n:
                result.answered += 1
                result.unacked_answered += not d.acked
            if n > 1:
                result.doubled[d.text] = n
            if n == 0 and not excused(d):
                (result.lost if d.acked else result.unanswered).append(d.text)
        expected = [d.text for d in deliveries if d.text in covering]
        if sequence != expected:
            result.out_of_order[thread] = sequence
        # the thread's final model request whose answer was posted carries its memory
        posted_texts = {p.params.get("text", "") for p in thread_posts}
        final = [r for r in requests_of.get(thread, []) if default_reply(r.body) in posted_texts]
        if final:
            body = final[-1].body
            result.final_requests[thread] = body
            must = {t for t in covering if not no_history(mine[t])}
            may = {d.text for d in deliveries if may_be_in_history(d)}
            problems = history_problems(body, [d.text for d in deliveries], must, may - must)
            forbidden = [
                t
                for role, text in chat(body)
                if role == "user"
                for t in tokens(text)
                if t in mine and no_history(mine[t])
            ]
            if forbidden:
                problems.append(f"in the history although it must not be: {forbidden}")
            if problems:
                result.invalid_history[thread] = problems
        elif any(d.acked for d in deliveries):
            result.invalid_history[thread] = ["no posted model answer in this thread"]
    return result


def thread_key(body: dict[str, Any]) -> str:
    """The thread a model request belongs to (token prefix + thread number), for overlaps."""
    found = asked(body) or [t for _, text in chat(body) for t in tokens(text)]
    return found[0][:4] if found else ""


def overlapping(
    requests: list[Request], key: Callable[[dict[str, Any]], str]
) -> list[tuple[Request, Request]]:
    """Like FakeOpenAI.overlaps, in O(n log n): pairs of requests with the same key whose
    [started, finished] intervals overlap (each request paired with the latest-ending one
    before it)."""
    groups: dict[str, list[Request]] = defaultdict(list)
    for req in requests:
        if req.finished:
            groups[key(req.body)].append(req)
    found = []
    for reqs in groups.values():
        reqs.sort(key=lambda r: r.started)
        latest: Request | None = None
        for req in reqs:
            if latest is not None and req.started < latest.finished:
                found.append((latest, req))
            if latest is None or req.finished > latest.finished:
                latest = req
    return found


def answered_tokens(posts: list[Call], requests: list[Request]) -> set[str]:
    """Tokens covered by some post (matched to the model request that produced it)."""
    by_reply = {default_reply(r.body): r.body for r in requests}
    return {t for p in posts for t in asked(by_reply.get(p.params.get("text", ""), {}))}


@contextlib.contextmanager
def background(target: Callable[[], None], name: str) -> Any:
    """Run target in a daemon thread; re-raise its exception when the block ends."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            target()
        except BaseException as exc:  # surfaced on exit
            errors.append(exc)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        thread.join(timeout=120)
    if errors:
        raise errors[0]


def run_parallel(targets: list[Callable[[], None]], timeout: float) -> None:
    """Run each target in its own thread, wait for all, re-raise the first failure."""
    errors: list[BaseException] = []

    def run(target: Callable[[], None]) -> None:
        try:
            target()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    workers = [threading.Thread(target=run, args=(t,), daemon=True) for t in targets]
    for w in workers:
        w.start()
    deadline = time.monotonic() + timeout
    for w in workers:
        w.join(timeout=max(0.0, deadline - time.monotonic()))
    if errors:
        raise errors[0]
    if any(w.is_alive() for w in workers):
        raise AssertionError(f"still running after {timeout}s")


def wait_answered(
    fake_slack: FakeSlack, fake_openai: FakeOpenAI, texts: list[str], timeout: float, what: str
) -> None:
    def done() -> bool:
        answered = answered_tokens(
            fake_slack.calls("chat.postMessage", False), list(fake_openai.requests)
        )
        return all(t in answered for t in texts)

    wait_until(done, timeout, what, interval=0.1)


MakeCluster = Callable[..., Cluster]
