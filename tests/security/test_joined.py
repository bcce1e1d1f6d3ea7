"""Finding 3: a thread reply is routed only if the bot joined that thread. Redis's "not
joined" is trusted while Redis's data for the thread's shard is intact since before the
thread began: replies in threads the bot never joined (anyone can start them, in every
channel the bot is in) cost no storage call before the ack, and are acked even with S3
down. After Redis lost its data, the session store answers for older threads, once each.
A real redis-server, moto S3 behind a proxy that counts (and fails) requests."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from bot.jobs import session_id
from bot.store.redis_keys import SHARD_LIST
from tests.fakes.model import ScriptedModel
from tests.fakes.redis_server import RedisServer
from tests.fakes.s3_server import FaultyProxy
from tests.fakes.slack_api import FakeSlack
from tests.support.bot import start_bot
from tests.support.harness import message_event, now_ts
from tests.support.wait import wait_until


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A server of this test's own: it is restarted empty."""
    with RedisServer() as server:
        yield server


def intact_for_an_hour(url: str) -> None:
    """As in production, where Redis has kept its data since long before today's threads
    (the marker each shard's first claim sets; here the claim ran a moment ago)."""
    client = redis.Redis.from_url(url)
    wait_until(lambda: client.exists(f"{SHARD_LIST[0].base}:epoch"), 10, "the first claim")
    for shard in SHARD_LIST:
        client.set(f"{shard.base}:since", repr(time.time() - 3600))
    client.close()


def storage_calls(s3: FaultyProxy, sid: str) -> list[str]:
    """S3 requests about this thread's session (a LIST of its keys, either layout)."""
    return [path for _, path in s3.requests if sid in path]


def test_unjoined_threads_cost_no_storage_call_and_joined_ones_survive_a_redis_loss(
    fake_slack: FakeSlack,
    s3_server,
    s3_env: dict[str, str],
    session_dir,
    own_redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with FaultyProxy(s3_server.endpoint_url) as s3:
        monkeypatch.setenv("AWS_ENDPOINT_URL", s3.url)
        model = ScriptedModel()
        bot = start_bot(fake_slack, s3_env, session_dir, own_redis.url, model)
        try:
            joined = bot.mention("remember the word kiwi", ts=now_ts())
            fake_slack.wait_for("chat.postMessage")
            intact_for_an_hour(own_redis.url)

            # a busy channel, S3 down: people talk in threads the bot was never asked into
            s3.fail_next(10_000, status=503)
            strangers = [now_ts() for _ in range(3)]
            for root in strangers:
                for _ in range(2):
                    event = message_event("chatter", "C1", now_ts(), root)
                    assert bot.event(event)[0] == 200
            for root in strangers:
                assert storage_calls(s3, session_id("T1", "C1", root)) == []

            # Redis restarts empty: the joined thread is still answered (from storage) ...
            s3.clear()
            old_stranger = strangers[0]
            own_redis.restart(down_seconds=0.5)
            bot.reply("which word?", thread_ts=joined["ts"], ts=now_ts())
            answer = fake_slack.wait_for("chat.postMessage", count=2, timeout=20)[-1]
            assert answer.params["thread_ts"] == joined["ts"]
            assert "kiwi" in str(model.calls[-1]["messages"])
            # ... and an older unjoined thread costs storage calls once, then none
            sid = session_id("T1", "C1", old_stranger)
            bot.reply("more chatter", thread_ts=old_stranger, ts=now_ts())
            asked = len(storage_calls(s3, sid))
            assert asked > 0  # Redis cannot know (it lost its data since): storage says
            s3.fail_next(10_000, status=503)
            bot.reply("and more", thread_ts=old_stranger, ts=now_ts())
            assert len(storage_calls(s3, sid)) == asked  # the answer was kept in Redis
        finally:
            s3.clear()
            bot.stop()
    assert len(fake_slack.calls("chat.postMessage")) == 2  # chatter was never answered
