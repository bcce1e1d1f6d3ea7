"""Chaos by Redis restarts: while messages flow, and while a turn runs."""

from __future__ import annotations

import random
import threading
import time

from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.redis_server import RedisServer
from tests.fakes.slack_api import FakeSlack
from tests.support.chaos_checks import (
    CHANNEL,
    accounting,
    answered_first,
    event_for,
    markers_answered,
    requests_asking,
)
from tests.support.chaos_cluster import MakeCluster
from tests.support.chaos_courier import Courier, Delivery, Ledger
from tests.support.chaos_tokens import make_token
from tests.support.chaos_waits import run_parallel, wait_answered
from tests.support.harness import message_event, now_ts
from tests.support.wait import wait_until


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
