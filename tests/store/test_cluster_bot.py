"""The in-process bot on Redis Cluster: a primary restarts empty while a turn of a thread
on it runs and another message waits (the durable inbox replay of that primary's shards
brings the waiting one back; nothing is answered twice)."""

from __future__ import annotations

import threading
import time

import pytest

from bot.jobs import session_id
from bot.store.redis_keys import shard
from tests.fakes.model import ScriptedModel
from tests.fakes.redis_cluster import RedisCluster
from tests.fakes.slack_api import FakeSlack
from tests.support.bot import answers, model_called, now_ts, settle, wait_answered


@pytest.fixture
def redis_url(redis_cluster_url: str) -> str:
    """make_bot's Redis is the cluster here."""
    return redis_cluster_url


def test_a_primary_restart_mid_turn_loses_nothing_and_doubles_nothing(
    make_bot, fake_slack: FakeSlack, s3_env: dict[str, str], redis_cluster: RedisCluster
) -> None:
    victim = redis_cluster.nodes[1]
    channel = next(
        f"C{i}"
        for i in range(1, 300)
        if redis_cluster.node_of(shard(session_id("T1", f"C{i}", "1.1")).pending) is victim
    )
    gate = threading.Event()
    gate.set()
    model = ScriptedModel(block_until=gate)
    bot = make_bot(model, SESSION_BUCKET=s3_env["SESSION_BUCKET"])
    assert bot.runtime.state.cluster
    done = bot.mention("answered before", channel=channel, ts=now_ts())
    fake_slack.wait_for("chat.postMessage", count=1)
    settle(bot)
    gate.clear()  # the next answer is held while its primary forgets everything
    running = bot.mention("running during the restart", channel=channel, ts=now_ts())
    model_called(model, count=2)
    bot.reply("queued during the restart", thread_ts=running["ts"], channel=channel, ts=now_ts())
    redis_cluster.restart_node(victim, down_seconds=0.3)
    assert bot.runtime.state.queued(session_id("T1", channel, running["ts"])) == []  # lost
    gate.set()
    wait_answered(fake_slack, ("running during the restart", "queued during the restart"))
    time.sleep(3)  # a sweep (2 s) claims the replay; anything doubled would show by now
    settle(bot, timeout=15)
    for text in ("answered before", "running during the restart", "queued during the restart"):
        assert answers(fake_slack, text) == 1, text
    asked = [m["content"][0]["text"] for call in model.calls for m in call["messages"][-1:]]
    assert asked.count("answered before") == 1, asked
    assert done
