"""Chaos by failing dependencies: S3 and the model fail, and Slack retries every delivery
on other processes."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.s3_server import FaultyProxy
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import event_callback
from tests.support.chaos_checks import (
    ACCEPT_REFUSED,
    CHANNEL,
    MODEL_FAILED,
    STORAGE_FAILED,
    TURN_RETRIED,
    accounting,
    event_for,
    markers_answered,
    model_apologies,
    requests_asking,
    thread_posts,
)
from tests.support.chaos_cluster import MakeCluster
from tests.support.chaos_courier import Courier, Delivery, Ledger
from tests.support.chaos_tokens import make_token
from tests.support.chaos_waits import background, run_parallel, wait_answered
from tests.support.harness import mention_event, message_event, next_ts
from tests.support.redis_modes import ON_BOTH
from tests.support.wait import wait_until


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
@ON_BOTH
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
