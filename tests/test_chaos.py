"""Chaos: the real bot (gunicorn processes on Redis, moto S3, fake Slack and OpenAI) while
workers are SIGKILLed and SIGTERMed, Redis restarts, S3 and the model fail, and Slack retries.

The guarantee under test: every message in a thread is answered once, in order, with valid
memory. Messages are tokens (see tests/support/chaos.py); the fake model echoes the newest
user message, so each post names the messages it answers. "Answered once" is checked with a
marker per thread sent last: inboxes are FIFO, so when a marker's answer is posted, every
earlier message of its thread has been handled, and a duplicate would already show.

LOCK_TTL_SECONDS=3 (tests.support.bot_process.bot_env): a dead worker's threads are free after
3 s and swept up within 2 s more. Set CHAOS_SEED to replay a run's random choices.
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bot.answer.slack_format import fallback_text, split_parts
from tests.fakes.openai_server import FakeOpenAI, Request, default_reply
from tests.fakes.redis_server import RedisServer
from tests.fakes.s3_server import FaultyProxy, S3Server
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import event_callback
from tests.support.bot_process import BotProcess
from tests.support.chaos import (
    Accounting,
    Cluster,
    ContinueProxy,
    Courier,
    Delivery,
    Ledger,
    MakeCluster,
    account,
    asked,
    background,
    make_token,
    model_id,
    run_parallel,
    thread_key,
    wait_answered,
)
from tests.support.harness import mention_event, message_event, next_ts, now_ts
from tests.support.wait import wait_until

CHANNEL = "C1"
GRACEFUL_TIMEOUT = 30  # bot/serve/gunicorn_conf.py
MODEL_FAILED = ":warning: Sorry, I couldn't get an answer from the model"
STORAGE_FAILED = ":warning: Sorry, I couldn't load or save this conversation's memory"
CONTEXT = r"(?: \[[^\]]*\])?"  # bot.obs.logs shows the session, turn, ... after the logger
TURN_RETRIED = re.compile(rf"bot\.turns\.worker{CONTEXT}: session \S+: turn failed$", re.MULTILINE)
# An S3 fault on the durable inbox's write refuses the delivery (500): Slack retries it.
ACCEPT_REFUSED = re.compile(rf"bot\.intake\.intake{CONTEXT}: could not queue ", re.MULTILINE)
SEED = int(os.environ.get("CHAOS_SEED") or random.randrange(1 << 30))


@pytest.fixture
def rng() -> random.Random:
    print(f"CHAOS_SEED={SEED}")
    return random.Random(SEED)


@pytest.fixture
def s3_proxy(s3_server: S3Server) -> Iterator[FaultyProxy]:
    with ContinueProxy(s3_server.endpoint_url) as proxy:
        yield proxy


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A Redis of this test's own, to restart (the session one is shared)."""
    with RedisServer() as server:
        yield server


# --- helpers ---------------------------------------------------------------------------
def thread_posts(fake_slack: FakeSlack, thread: str) -> list[str]:
    return [
        c.params.get("text", "")
        for c in fake_slack.calls("chat.postMessage", False)
        if c.params.get("channel") == CHANNEL and c.params.get("thread_ts") == thread
    ]


def event_for(text: str, root: str, first: bool) -> dict[str, Any]:
    if first:
        return mention_event(text, CHANNEL, root)
    return message_event(text, CHANNEL, next_ts(), thread_ts=root)


def markers_answered(
    courier: Courier,
    ledger: Ledger,
    prefix: str,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    timeout: float,
) -> list[str]:
    """One more message per thread (number 999, same thread number as its others), each
    acked and answered within `timeout` s: then every earlier message has been handled."""
    markers = []
    for root, deliveries in ledger.threads().items():
        text = make_token(prefix, int(deliveries[0].text[1:4]), 999)
        delivery = ledger.add(courier.deliver(event_for(text, root, False), root, text))
        assert delivery.acked, delivery
        markers.append(text)
    wait_answered(fake_slack, fake_openai, markers, timeout, "every thread's marker answered")
    return markers


def accounting(
    ledger: Ledger, fake_slack: FakeSlack, fake_openai: FakeOpenAI, **rules: Any
) -> Accounting:
    """account() of the ledger's threads in CHANNEL; `rules` as account() takes them."""
    return account(
        ledger.threads(),
        fake_slack.calls("chat.postMessage", False),
        list(fake_openai.requests),
        CHANNEL,
        **rules,
    )


def answered_first(
    courier: Courier, ledger: Ledger, prefix: str, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> tuple[str, str]:
    """A new thread's mention (message 0 of thread 0), delivered and answered: (root, token)."""
    root, first = next_ts(), make_token(prefix, 0, 0)
    ledger.add(courier.deliver(event_for(first, root, True), root, first))
    wait_answered(fake_slack, fake_openai, [first], 20, "the first answer")
    return root, first


def turn_of(
    cluster: Cluster, fake_openai: FakeOpenAI, text: str, timeout: float
) -> tuple[Request, BotProcess]:
    """The one model request asking `text` (waited for) and the live process making it."""
    [request] = wait_until(lambda: requests_asking(fake_openai, text), timeout, "the turn")
    process = cluster.by_model(request.body["model"])
    assert process in cluster.slots
    return request, process


def requests_asking(fake_openai: FakeOpenAI, text: str) -> list[Any]:
    return [r for r in list(fake_openai.requests) if text in asked(r.body)]


def model_apologies(posts: list[str]) -> int:
    return sum(p.startswith(MODEL_FAILED) for p in posts)


# --- 1. SIGKILL chaos ------------------------------------------------------------------
def test_sigkill_chaos_on_three_workers_answers_every_message_once_in_order(
    make_cluster: MakeCluster, fake_slack: FakeSlack, fake_openai: FakeOpenAI, rng: random.Random
) -> None:
    """4 threads x 7 messages spread over 3 processes while a process (or only its gunicorn
    worker) is SIGKILLed again and again, mostly while it runs a turn or just after its
    model answered (commit / post), and brought back."""
    threads, per_thread, min_kills = 4, 7, 5
    cluster = make_cluster(3)
    fake_openai.delay = 0.4
    courier = Courier(cluster, rng, timeout=5.0, give_up_after=60)
    ledger = Ledger()
    roots = [next_ts() for _ in range(threads)]
    users_done = threading.Event()
    kills: list[str] = []

    def user(index: int) -> None:
        for m in range(per_thread):
            text = make_token("k", index, m)
            delivery = courier.deliver(event_for(text, roots[index], m == 0), roots[index], text)
            assert delivery.acked, delivery  # Slack would have given up: a test failure
            ledger.add(delivery)
            time.sleep(rng.uniform(0.2, 1.2))

    def victim() -> tuple[int, str]:
        """A slot to kill: mostly the process running a turn, sometimes any."""
        style = rng.choice(["mid-turn", "mid-turn", "after-model", "random"])
        if style != "random":
            running = [r for r in list(fake_openai.requests) if not r.finished]
            target = cluster.by_model(running[0].body.get("model", "")) if running else None
            if target in cluster.slots:
                if style == "after-model":  # commit / post / finish window
                    wait_until(lambda: running[0].finished, 5, "the model answer")
                    time.sleep(rng.uniform(0, 0.05))
                else:
                    time.sleep(rng.uniform(0, 0.3))
                return cluster.slots.index(target), style
        return rng.randrange(cluster.size), "random"

    def chaos() -> None:
        while not users_done.is_set() or len(kills) < min_kills:
            time.sleep(rng.uniform(0.3, 1.0))
            slot, style = victim()
            mode = rng.choice(["group", "worker"])
            name = cluster.slots[slot].name
            cluster.kill(slot, mode)  # returns when the slot serves again
            kills.append(f"{name}:{mode}:{style}")

    with background(chaos, "chaos"):
        try:
            run_parallel([lambda i=i: user(i) for i in range(threads)], timeout=90)
        finally:
            users_done.set()

    # A last message per thread and one more kill mid-turn, then no traffic at all: what
    # the dead worker held must come back through the sweep alone.
    fake_openai.delay = 1.5
    for index, root in enumerate(roots):
        text = make_token("k", index, per_thread)
        delivery = ledger.add(courier.deliver(event_for(text, root, False), root, text))
        assert delivery.acked, delivery
    last = [d.text for d in ledger.deliveries[-threads:]]
    running = wait_until(
        lambda: [
            r
            for r in list(fake_openai.requests)
            if not r.finished and set(asked(r.body)) & set(last)
        ],
        10,
        "a last message's turn",
    )
    target = cluster.by_model(running[0].body["model"])
    if target in cluster.slots:
        cluster.kill(cluster.slots.index(target), "group")
        kills.append(f"{target.name}:group:final")
    fake_openai.delay = 0.0
    everything = [d.text for d in ledger.deliveries]
    wait_answered(fake_slack, fake_openai, everything, 30, "every message answered")

    # then prove nothing is answered twice
    markers_answered(courier, ledger, "k", fake_slack, fake_openai, 45)
    result = accounting(ledger, fake_slack, fake_openai)
    print("kills:", kills, "\n", result.summary())
    assert result.ok, result.summary()
    assert result.answered == result.sent == threads * (per_thread + 2)
    assert kills[-1].endswith(":final"), "the final kill missed: its turn had ended"
    assert not any(result.other_posts.values()), result.other_posts
    assert fake_openai.overlaps(thread_key) == [], "two turns of one thread overlapped"
    assert len(kills) >= min_kills


# --- 2. SIGTERM mid-turn -----------------------------------------------------------------
def test_sigterm_mid_turn_finishes_the_turn_and_hands_the_queue_to_another_worker(
    make_cluster: MakeCluster, fake_slack: FakeSlack, fake_openai: FakeOpenAI, rng: random.Random
) -> None:
    cluster = make_cluster(2)
    courier = Courier(cluster, rng, give_up_after=20)
    ledger = Ledger()
    root, first = next_ts(), make_token("g", 0, 0)
    fake_openai.delay = 2.5  # a slow model: the SIGTERM lands mid-turn
    ledger.add(courier.deliver(event_for(first, root, True), root, first))
    request, victim = turn_of(cluster, fake_openai, first, 10)
    slot = cluster.slots.index(victim)
    survivor = cluster.slots[1 - slot]

    queued = [make_token("g", 0, i) for i in (1, 2)]  # queued behind the running turn
    for text in queued:
        delivery = courier.deliver(event_for(text, root, False), root, text, first=victim)
        assert delivery.acked and delivery.attempts[0].process == victim.name, delivery
        ledger.add(delivery)
    assert not request.finished, "the turn ended before the SIGTERM: make the model slower"
    sigterm_at = time.monotonic()
    code, took = cluster.terminate(slot, timeout=GRACEFUL_TIMEOUT + 5)
    print(f"{victim.name} exited with {code} {took:.1f}s after SIGTERM")
    assert code == 0, f"exit code {code} after SIGTERM (None = still running)"
    assert took < GRACEFUL_TIMEOUT
    assert request.finished, "exited before its model call returned"
    assert "still running a turn" not in victim.log_text()

    fake_openai.delay = 0.0
    # nothing else is sent: the other worker finds the handed-back thread by its sweep
    wait_answered(fake_slack, fake_openai, queued, 20, "the queued messages answered")
    markers_answered(courier, ledger, "g", fake_slack, fake_openai, 20)
    result = accounting(ledger, fake_slack, fake_openai)
    assert result.ok, result.summary()
    assert result.answered == result.sent == 4
    # the in-flight turn was finished by the stopping worker: one model call, no redo
    assert [r.body["model"] for r in requests_asking(fake_openai, first)] == [model_id(victim.name)]
    # the queued messages were handed back and answered by the other worker
    for text in queued:
        calls = requests_asking(fake_openai, text)
        assert calls and all(r.body["model"] == model_id(survivor.name) for r in calls), text
        assert all(r.started > sigterm_at for r in calls)


# --- 3. Redis restart ----------------------------------------------------------------------
def test_redis_restart_while_messages_flow(
    make_cluster: MakeCluster,
    private_redis: RedisServer,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    rng: random.Random,
) -> None:
    """Redis here keeps nothing on disk, so a restart loses what was queued; the durable
    inbox must bring it back. What must hold: every acked message answered once and in
    order, those queued before the restart included; during the outage requests are
    still acked (held in the durable inbox, S3 being up) and answered once Redis is back;
    /readyz says 503 then 200; the workers ride it out without restarting."""
    cluster = make_cluster(2, redis=private_redis.url)
    fake_openai.delay = 0.2
    courier = Courier(cluster, rng, timeout=5.0, backoff=0.3, max_retry_num=2, give_up_after=40)
    ledger = Ledger()
    roots = [now_ts() for _ in range(3)]  # Slack's ts: the durable inbox replays by time
    for i, root in enumerate(roots):  # threads the bot has joined (stored in S3)
        text = make_token("r", i, 0)
        ledger.add(courier.deliver(event_for(text, root, True), root, text))
    wait_answered(
        fake_slack,
        fake_openai,
        [d.text for d in ledger.deliveries],
        20,
        "the threads' first answers",
    )
    pids = {bot.name: (bot.proc.pid, bot.worker_pids()) for bot in cluster.slots}
    flowing = threading.Event()
    flowing.set()

    def user(index: int) -> None:
        m = 1
        while flowing.is_set():
            text = make_token("r", index, m)
            event = message_event(text, CHANNEL, now_ts(), thread_ts=roots[index])
            ledger.add(courier.deliver(event, roots[index], text))
            m += 1
            time.sleep(rng.uniform(0.1, 0.3))

    outage: list[Delivery] = []  # new threads started during the outage

    def outage_mention(index: int) -> None:
        root, text = now_ts(), make_token("r", 10 + index, 0)
        delivery = courier.deliver(
            event_for(text, root, True), root, text, first=cluster.slots[index]
        )
        outage.append(ledger.add(delivery))

    users = threading.Thread(
        target=run_parallel, args=([lambda i=i: user(i) for i in range(3)], 60), daemon=True
    )
    users.start()
    time.sleep(1.0)
    down_at = time.time()
    private_redis.stop()
    mentions = [threading.Thread(target=outage_mention, args=(i,), daemon=True) for i in range(2)]
    for t in mentions:
        t.start()
    unhealthy = wait_until(
        lambda: all(bot.health() == 503 for bot in cluster.slots), 10, "/readyz 503"
    )
    time.sleep(max(0.0, down_at + 1.0 - time.time()))
    restart_at = time.time()
    private_redis.start()
    up_at = time.time()  # a 200 after this came from the new Redis
    wait_until(lambda: all(bot.health() == 200 for bot in cluster.slots), 15, "/readyz 200")
    for t in mentions:
        t.join(timeout=45)
    time.sleep(2.0)
    flowing.clear()
    users.join(timeout=45)
    assert unhealthy

    markers_answered(courier, ledger, "r", fake_slack, fake_openai, 30)

    def after_restart(d: Delivery) -> bool:  # its 200 came from the new Redis
        ok = [a for a in d.attempts if a.outcome == "200"]
        return bool(ok) and ok[0].started >= up_at

    deliveries = ledger.deliveries
    assert all(d.acked for d in deliveries), [d for d in deliveries if not d.acked]
    during = [
        a
        for d in deliveries
        for a in d.attempts
        if a.started > down_at + 0.2 and a.ended < restart_at
    ]
    assert during, "no request reached the bot while Redis was down"
    assert [a for a in during if a.outcome != "200"] == [], (down_at, restart_at)
    assert len(outage) == 2 and all(d.attempts[0].outcome == "200" for d in outage), outage
    result = accounting(ledger, fake_slack, fake_openai)
    print(result.summary())
    assert result.ok, result.summary()
    late = [d for d in deliveries if after_restart(d)]
    assert len(late) >= 5 and all(d.text in result.answer_of for d in late)
    assert {bot.name: (bot.proc.pid, bot.worker_pids()) for bot in cluster.slots} == pids, (
        "a worker restarted"
    )


# --- 4. S3 and model failures ---------------------------------------------------------
def test_s3_and_model_failures_give_one_visible_reply_per_message(
    make_cluster: MakeCluster,
    s3_proxy: FaultyProxy,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
    rng: random.Random,
) -> None:
    """S3 (behind a fault-injecting proxy) fails in bursts and slows down; the model fails
    with errors its client does not retry (400) and with ones it does (500). Every message
    gets exactly one reply, an answer or a short apology; memory stays valid."""
    cluster = make_cluster(2, s3_endpoint=s3_proxy.url)
    fake_openai.delay = 0.1
    courier = Courier(cluster, rng, give_up_after=20)
    ledger = Ledger()
    threads, at_least = 4, 5
    roots = [next_ts() for _ in range(threads)]
    replies: dict[str, str] = {}  # token -> the post that replied to it
    script: list[Callable[[], Any]] = [
        lambda: s3_proxy.fail_next(2, 503),  # absorbed by botocore's retries
        lambda: fake_openai.fail_next(1, 400),  # not retried by the client: apology
        lambda: s3_proxy.set_delay(0.25),
        # not retried by botocore: the turn is retried (a session's snapshot, not one of the
        # requests that fail quietly, like noting a streamed message in the inbox)
        lambda: s3_proxy.fail_next(1, 403, only="/session/"),
        lambda: s3_proxy.set_delay(0.0),
        lambda: fake_openai.fail_next(2, 500),  # retried by the client
        lambda: fake_openai.fail_next(1, 400),
        lambda: s3_proxy.fail_next(1, 403, only="/session/"),
        lambda: s3_proxy.fail_next(2, 500),
    ]
    injected_400, injected_403 = 2, 2
    injected = threading.Event()

    def user(index: int) -> None:
        """Send, wait for the reply, send the next: so each reply belongs to one message."""
        root, m, after = roots[index], 0, 0
        while m < at_least or after < 2:
            text = make_token("f", index, m)
            before = len(thread_posts(fake_slack, root))
            delivery = courier.deliver(event_for(text, root, m == 0), root, text)
            assert delivery.acked, delivery
            ledger.add(delivery)
            posted = wait_until(
                lambda n=before: thread_posts(fake_slack, root)[n:], 60, f"a reply to {text}"
            )
            replies[text] = posted[0]
            m, after = m + 1, after + injected.is_set()
            time.sleep(rng.uniform(0.0, 0.3))

    def inject() -> None:
        for step in script:
            time.sleep(rng.uniform(0.4, 1.0))
            step()
        injected.set()

    with background(inject, "faults"):
        run_parallel([lambda i=i: user(i) for i in range(threads)], timeout=120)
    with s3_proxy._lock:
        assert not s3_proxy._faults, "injected S3 faults left unused: make the run longer"
    assert sum(r.status == 400 for r in fake_openai.requests) == injected_400

    markers_answered(courier, ledger, "f", fake_slack, fake_openai, 30)
    for root in roots:  # exactly one visible reply per message
        texts = [d.text for d in ledger.threads()[root]]
        assert len(thread_posts(fake_slack, root)) == len(texts), (
            texts,
            thread_posts(fake_slack, root),
        )
    for text, post in replies.items():
        assert post.startswith((MODEL_FAILED, STORAGE_FAILED)) or (
            post.startswith(f"echo: {text} [")
        ), (text, post)
    apologized = {t for t, p in replies.items() if not p.startswith("echo: ")}
    model_failed = {t for t, p in replies.items() if p.startswith(MODEL_FAILED)}
    posts = [p for root in roots for p in thread_posts(fake_slack, root)]
    assert model_apologies(posts) == injected_400, posts
    retried = sum(
        len(TURN_RETRIED.findall(bot.log_text())) + len(ACCEPT_REFUSED.findall(bot.log_text()))
        for bot in cluster.every
    )
    assert retried >= injected_403, "the injected S3 errors failed no turn and no delivery"
    result = accounting(
        ledger,
        fake_slack,
        fake_openai,
        excused=lambda d: d.text in apologized,
        no_history=lambda d: d.text in model_failed,
        may_be_in_history=lambda d: d.text in apologized - model_failed,
    )
    print(result.summary(), "apologies:", sorted(apologized))
    assert result.ok, result.summary()
    assert result.answered == result.sent - len(apologized)


# --- 5. Slack retries across processes ------------------------------------------------
def test_slack_retries_on_other_processes_are_answered_once(
    make_cluster: MakeCluster, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    """Each message arrives up to 4 times (X-Slack-Retry-Num 1..3, same event_id) and a thread
    mention twice more (as app_mention and as message), on all three processes: at once,
    while the turn runs, and after it was answered."""
    cluster = make_cluster(3)
    fake_openai.delay = 1.0
    a, b, c = cluster.slots
    ledger = Ledger()
    statuses: list[tuple[str, int]] = []
    lock = threading.Lock()

    def post(bot: Any, payload: dict, retry: int | None = None) -> None:
        status, _ = bot.post(
            payload, retry_num=retry, retry_reason="http_timeout" if retry else None
        )
        with lock:
            statuses.append((bot.name, status))

    def at_once(*calls: tuple[Any, ...]) -> None:
        barrier = threading.Barrier(len(calls))

        def go(args: tuple[Any, ...]) -> None:
            barrier.wait(timeout=10)
            post(*args)

        workers = [threading.Thread(target=go, args=(call,)) for call in calls]
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout=20)

    def thread(index: int) -> None:
        root, first, second = next_ts(), make_token("s", index, 0), make_token("s", index, 1)
        mention = event_callback(mention_event(first, CHANNEL, root))
        started = time.time()
        at_once((a, mention), (b, mention, 1))  # original and a retry, simultaneously
        ledger.add(Delivery(root, first, root, mention["event_id"], started, time.time()))
        wait_until(lambda: requests_asking(fake_openai, first), 10, "the first turn")
        post(c, mention, 2)  # while the turn runs
        wait_answered(fake_slack, fake_openai, [first], 20, "the first answer")
        post(a, mention, 3)  # after it was answered

        ts = next_ts()  # a thread mention: delivered as app_mention and as message
        as_mention = event_callback(mention_event(second, CHANNEL, ts, thread_ts=root))
        as_message = event_callback(message_event(f"<@UBOT> {second}", CHANNEL, ts, thread_ts=root))
        started = time.time()
        at_once((b, as_mention), (c, as_message), (a, as_mention, 1))
        ledger.add(Delivery(root, second, ts, as_mention["event_id"], started, time.time()))
        wait_until(lambda: requests_asking(fake_openai, second), 10, "the second turn")
        at_once((c, as_mention, 2), (a, as_message, 1), (b, as_mention, 3))
        wait_answered(fake_slack, fake_openai, [second], 20, "the second answer")
        post(c, as_message, 2)

    with (
        background(lambda: thread(0), "t0"),
        background(lambda: thread(1), "t1"),
        background(lambda: thread(2), "t2"),
    ):
        pass
    assert statuses and all(status == 200 for _, status in statuses), statuses

    fake_openai.delay = 0.0
    courier = Courier(cluster)
    markers_answered(courier, ledger, "s", fake_slack, fake_openai, 20)
    result = accounting(ledger, fake_slack, fake_openai)
    assert result.ok, result.summary()
    assert result.answered == result.sent == 9
    for d in ledger.deliveries:  # no delivery caused a second model call
        assert len(requests_asking(fake_openai, d.text)) == 1, d.text


# --- 6. kills at each step of a turn's commit and post --------------------------------
SNAPSHOT_PUT = re.compile(r"/session/[^/]+/scopes/agent/[^/]+/snapshots/snapshot_latest\.json")


def snapshot_puts(proxy: FaultyProxy) -> int:
    with proxy._lock:
        requests = list(proxy.requests)
    return sum(method == "PUT" and bool(SNAPSHOT_PUT.search(path)) for method, path in requests)


def test_kills_at_each_step_of_a_turn_recompute_or_replay_and_answer_once(
    make_cluster: MakeCluster, s3_proxy: FaultyProxy, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    """The process running a turn is SIGKILLed
    1. during the model call, before anything was saved: the turn is recomputed;
    2. while the turn's snapshot PUT is in flight (held by the proxy, it lands after the
       kill): the stored answer is posted, without a model call;
    3. while the answer is being posted (Slack takes it, the worker never hears back, the
       message stays queued): the replay finds it in Slack (message metadata) and neither
       posts it again nor calls the model."""
    cluster = make_cluster(2, s3_endpoint=s3_proxy.url)
    courier = Courier(cluster, give_up_after=20)
    ledger = Ledger()
    root, _ = answered_first(courier, ledger, "c", fake_slack, fake_openai)

    def ask(text: str) -> BotProcess:
        """Send `text`; the process whose model call answers it."""
        ledger.add(
            courier.deliver(message_event(text, CHANNEL, next_ts(), thread_ts=root), root, text)
        )
        return turn_of(cluster, fake_openai, text, 15)[1]

    fake_openai.delay = 1.0
    text = make_token("c", 0, 1)
    cluster.kill(cluster.slots.index(ask(text)), "group")  # mid model call
    wait_answered(fake_slack, fake_openai, [text], 20, "step 1's answer")
    assert len(requests_asking(fake_openai, text)) == 2  # recomputed

    fake_openai.delay = 0.3
    text, written = make_token("c", 0, 2), snapshot_puts(s3_proxy)
    victim = ask(text)
    s3_proxy.set_delay(0.3)  # the commit's PUT, held 0.3 s
    wait_until(lambda: snapshot_puts(s3_proxy) > written, 15, "the snapshot PUT")
    cluster.kill(cluster.slots.index(victim), "group", then=lambda: s3_proxy.set_delay(0))
    wait_answered(fake_slack, fake_openai, [text], 20, "step 2's answer")
    assert len(requests_asking(fake_openai, text)) == 1  # the stored answer, posted

    third, entered, gate = make_token("c", 0, 3), threading.Event(), threading.Event()

    def slow_post(call: Any) -> dict[str, Any]:
        if third in call.params.get("text", "") and not entered.is_set():
            entered.set()
            gate.wait(15)  # Slack takes the post; its answer never reaches the worker
        return fake_slack._default_response(call)

    fake_slack.set_response("chat.postMessage", slow_post)
    victim = ask(third)
    wait_until(entered.is_set, 15, "the answer's chat.postMessage")
    cluster.kill(cluster.slots.index(victim), "group", then=gate.set)
    fake_openai.delay = 0.0

    # answered after the replayed turn
    markers_answered(courier, ledger, "c", fake_slack, fake_openai, 30)
    assert len(requests_asking(fake_openai, third)) == 1  # replayed, not recomputed
    result = accounting(ledger, fake_slack, fake_openai)
    assert result.ok, result.summary()
    assert result.answered == result.sent == 5


# --- 7. a turn running across a Redis restart -------------------------------------------
def test_turn_running_across_a_redis_restart_keeps_messages_queued_after_it(
    make_cluster: MakeCluster,
    private_redis: RedisServer,
    fake_slack: FakeSlack,
    fake_openai: FakeOpenAI,
) -> None:
    """A turn is running when Redis restarts empty; its lease's watchdog takes the thread
    lock back in the new Redis. A message accepted (200) after the restart queues behind
    it and must be answered: the finishing turn must not trim it from the new inbox."""
    cluster = make_cluster(2, redis=private_redis.url)
    courier = Courier(cluster, give_up_after=20, max_retry_num=2)
    ledger = Ledger()
    root, _ = answered_first(courier, ledger, "x", fake_slack, fake_openai)

    fake_openai.delay = 3.5  # the turn outlasts the outage and the lock's take-back
    running = make_token("x", 0, 1)
    ledger.add(courier.deliver(event_for(running, root, False), root, running))
    [request] = wait_until(lambda: requests_asking(fake_openai, running), 10, "the turn")
    private_redis.stop()
    time.sleep(1.0)
    private_redis.start()
    time.sleep(1.5)  # the watchdog renews every TTL/3 = 1 s: the lock is taken back
    assert not request.finished
    after = make_token("x", 0, 2)  # accepted by the new Redis, queued behind the turn
    delivery = ledger.add(courier.deliver(event_for(after, root, False), root, after))
    assert delivery.acked and delivery.attempts[-1].started > time.time() - 5
    fake_openai.delay = 0.0
    wait_answered(fake_slack, fake_openai, [running], 15, "the running turn's answer")
    wait_answered(fake_slack, fake_openai, [after], 5, "the message queued after restart")
    markers_answered(courier, ledger, "x", fake_slack, fake_openai, 20)
    result = accounting(ledger, fake_slack, fake_openai)
    assert result.ok, result.summary()
    assert result.answered == result.sent == 4


# --- 8. a long answer cut by a kill between its chunks ----------------------------------
def test_kill_between_the_chunks_of_a_long_answer_posts_every_chunk_once(
    make_cluster: MakeCluster, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    cluster = make_cluster(2)
    courier = Courier(cluster, give_up_after=20)
    root, _ = answered_first(courier, Ledger(), "l", fake_slack, fake_openai)
    long = make_token("l", 0, 1)

    filler = "\n".join(f"line {i:04d} " + "x" * 60 for i in range(380))  # ~25,000 chars

    def reply(body: dict[str, Any]) -> str:
        text = default_reply(body)
        return f"{text}\n{filler}" if long in asked(body) else text

    fake_openai.reply_fn = reply
    expected = [fallback_text(part) for part in split_parts(f"echo: {long} [3 msgs]\n{filler}")]
    assert len(expected) == 3
    entered, gate = threading.Event(), threading.Event()

    def slow_second_chunk(call: Any) -> dict[str, Any]:
        if call.params.get("text") == expected[1] and not entered.is_set():
            entered.set()
            gate.wait(15)  # Slack takes chunk 2; the worker dies before hearing back
        return fake_slack._default_response(call)

    fake_slack.set_response("chat.postMessage", slow_second_chunk)
    courier.deliver(event_for(long, root, False), root, long)
    wait_until(entered.is_set, 15, "the second chunk's chat.postMessage")
    _, victim = turn_of(cluster, fake_openai, long, 0)
    cluster.kill(cluster.slots.index(victim), "group", then=gate.set)

    marker = make_token("l", 0, 999)  # answered after the replayed turn
    courier.deliver(event_for(marker, root, False), root, marker)
    wait_answered(fake_slack, fake_openai, [marker], 20, "the marker answered")
    posted = thread_posts(fake_slack, root)
    assert posted[1:-1] == expected, [p[:40] for p in posted]
