"""The process-level tests on Redis Cluster: the real bot (gunicorn processes, moto S3,
fake Slack and OpenAI) with REDIS_URL pointing at one node of the session's cluster, the
mode detected: a primary that restarts empty while messages flow, and the others. The
memory, dedup, concurrency and lock tests of tests/serve/test_processes.py and the Slack
retries of tests/chaos/test_faults.py run on both a single Redis and the cluster
(tests/support/redis_modes.py)."""

from __future__ import annotations

import random
import re
import threading
import time
from pathlib import Path

import pytest

from bot.jobs import session_id
from bot.store.redis_keys import shard
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.redis_cluster import RedisCluster
from tests.fakes.slack_api import FakeSlack
from tests.support.chaos_accounting import account
from tests.support.chaos_courier import Courier, Ledger
from tests.support.chaos_tokens import make_token
from tests.support.chaos_waits import run_parallel, wait_answered
from tests.support.harness import mention_event, message_event, now_ts

REPLAYED = re.compile(r"(\d+) recent messages queued again from the durable inbox")
HELD = re.compile(r"Redis unreachable: (\S+) in \S+ held in the durable inbox")


@pytest.fixture
def redis_url(redis_cluster_url: str) -> str:
    """Every bot of this module uses the cluster (tests/conftest.py: a single Redis)."""
    return redis_cluster_url


def on_node(cluster: RedisCluster, node_index: int, channel: str) -> bool:
    sid = session_id("T1", channel, "1.1")  # T1: the team of tests/fakes/slack_payloads.py
    return cluster.node_of(shard(sid).pending) is cluster.nodes[node_index]


def test_a_primary_restarted_empty_loses_no_acked_message_and_doubles_none(
    make_cluster,  # noqa: F811
    redis_cluster: RedisCluster,
    fake_slack: FakeSlack,  # noqa: F811
    fake_openai: FakeOpenAI,
    tmp_path: Path,
) -> None:
    """Two processes, threads in a channel whose shard is on the primary that restarts and
    in one whose shard is not. What was queued on that primary is lost with it; the
    durable inbox replay (claimed because that primary's shard epochs are gone) brings
    it back, and only it: the other channel's messages are still known to Redis."""
    fake_slack.rate_limits = False  # about Redis: users burst answers into two channels
    channels = [f"C{i}" for i in range(1, 300)]
    lost = next(c for c in channels if on_node(redis_cluster, 0, c))
    kept = next(c for c in channels if not on_node(redis_cluster, 0, c))
    prefix = {lost: "l", kept: "k"}
    processes = make_cluster(2)
    fake_openai.delay = 0.3
    rng = random.Random(7)
    courier = Courier(processes, rng, timeout=5.0, backoff=0.3, max_retry_num=2, give_up_after=40)
    ledgers = {lost: Ledger(), kept: Ledger()}
    roots = {(channel, i): now_ts() for channel in ledgers for i in range(2)}
    for (channel, i), root in roots.items():
        text = make_token(prefix[channel], i, 0)
        ledgers[channel].add(courier.deliver(mention_event(text, channel, root), root, text))
    wait_answered(fake_slack, fake_openai, every_text(ledgers), 20, "the first answers")

    flowing = threading.Event()
    flowing.set()

    def user(channel: str, i: int) -> None:
        m = 1
        while flowing.is_set():
            text = make_token(prefix[channel], i, m)
            event = message_event(text, channel, now_ts(), thread_ts=roots[(channel, i)])
            ledgers[channel].add(courier.deliver(event, roots[(channel, i)], text))
            m += 1
            time.sleep(rng.uniform(0.1, 0.3))

    users = threading.Thread(
        target=run_parallel, daemon=True, args=([lambda key=key: user(*key) for key in roots], 60)
    )
    users.start()
    time.sleep(1.5)
    before = {c: sum(d.acked for d in ledger.deliveries) for c, ledger in ledgers.items()}
    redis_cluster.restart_node(redis_cluster.nodes[0], down_seconds=0.5)
    time.sleep(2.5)
    flowing.clear()
    users.join(timeout=45)

    markers = []
    for channel, ledger in ledgers.items():
        for root, deliveries in ledger.threads().items():
            text = make_token(prefix[channel], int(deliveries[0].text[1:4]), 999)
            event = message_event(text, channel, now_ts(), thread_ts=root)
            assert ledger.add(courier.deliver(event, root, text)).acked
            markers.append(text)
    wait_answered(fake_slack, fake_openai, markers, 30, "every thread's marker answered")

    posts = fake_slack.calls("chat.postMessage", False)
    for channel, ledger in ledgers.items():
        assert all(d.acked for d in ledger.deliveries)
        result = account(ledger.threads(), posts, list(fake_openai.requests), channel)
        print(channel, result.summary())
        assert result.ok, result.summary()
    logs = "".join(Path(bot.log_path).read_text(errors="replace") for bot in processes.every)
    requeued = sum(int(n) for n in REPLAYED.findall(logs))
    lost_total = len(ledgers[lost].deliveries)
    print(
        f"re-queued by the replay: {requeued} (lost channel: {before[lost]} acked before "
        f"the restart, {lost_total} in all; kept channel: {len(ledgers[kept].deliveries)})"
    )
    # the replay re-queued the lost channel's messages (once, across both processes) and
    # none of the kept channel's (still deduplicated by Redis), except those held in the
    # durable inbox while the cluster was failing over (bot/intake/outage.py): Redis never had them
    held = len(set(HELD.findall(logs)))
    assert before[lost] <= requeued <= lost_total + held, (requeued, before, lost_total, held)


def every_text(ledgers: dict[str, Ledger]) -> list[str]:
    return [d.text for ledger in ledgers.values() for d in ledger.deliveries]
