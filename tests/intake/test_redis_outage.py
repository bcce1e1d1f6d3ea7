"""Redis down, S3 up: every event is acked within Slack's 3 s and answered once Redis is
back, exactly once. A real redis-server behind a proxy that refuses connections, or
stopped with SIGSTOP (hanging); S3 is moto over HTTP; signed requests; the real worker."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from bot.intake.outage import Breaker, CircuitOpen
from tests.fakes.model import ScriptedModel
from tests.fakes.redis_server import RedisServer
from tests.fakes.s3_server import FaultyProxy
from tests.fakes.slack_api import FakeSlack
from tests.fakes.tcp_proxy import TcpProxy
from tests.support.bot import answers, start_bot, wait_answered
from tests.support.harness import Bot, mention_event, message_event, now_ts
from tests.support.wait import wait_until

SLACK_ACK_SECONDS = 3.0


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A server of this test's own: it is paused and proxied."""
    with RedisServer() as server:
        yield server


def acked(bot: Bot, event: dict, event_id: str, retry: int = 0) -> float:
    """Deliver `event` as Slack does; assert it was acked (200) in time; the seconds taken."""
    started = time.monotonic()
    status, body = bot.event(
        event,
        event_id=event_id,
        retry_num=retry or None,
        retry_reason="http_timeout" if retry else None,
    )
    took = time.monotonic() - started
    assert status == 200, (status, body)
    assert took < SLACK_ACK_SECONDS, took
    return took


def no_apology(slack: FakeSlack) -> None:
    texts = [call.params.get("text", "") for call in slack.calls("chat.postMessage")]
    assert not [text for text in texts if "can't take messages" in text], texts


def user_texts(model: ScriptedModel, root_text: str) -> str:
    """Every user text the model was last sent for the root thread (its whole history)."""
    for call in reversed(model.calls):
        texts = "\n".join(
            block["text"]
            for m in call["messages"]
            if m["role"] == "user"
            for block in m["content"]
            if "text" in block
        )
        if root_text in texts:
            return texts
    return ""


def send_during(
    bot: Bot, root: dict, prefix: str, count: int, spacing: float
) -> tuple[list[tuple[dict, str]], list[float]]:
    sent, times = [], []
    for i in range(count):
        text = f"{prefix} {i}"
        event = (
            mention_event(text, "C1", now_ts())
            if i % 2 == 0
            else message_event(text, "C1", now_ts(), root["ts"])
        )
        times.append(acked(bot, event, f"Ev{prefix}{i}"))
        sent.append((event, f"Ev{prefix}{i}"))
        time.sleep(spacing)
    return sent, times


def assert_answered_once(slack: FakeSlack, model: ScriptedModel, prefix: str, count: int) -> None:
    """Each new mention answered once; the root thread's replies each reached the model
    once, in the order they were sent."""
    root = f"{prefix} root"
    mentions = tuple(f"{prefix} {i}" for i in range(0, count, 2))
    wait_answered(slack, mentions, timeout=20)
    for text in mentions:
        assert answers(slack, text) == 1, text
    replies = [f"{prefix} {i}" for i in range(1, count, 2)]
    wait_until(lambda: replies[-1] in user_texts(model, root), 20, f"{replies[-1]!r} asked", 0.05)
    history = user_texts(model, root)
    assert [history.count(text) for text in replies] == [1] * len(replies), history
    spots = [history.index(text) for text in replies]
    assert spots == sorted(spots), history  # the thread's replies in arrival order


def test_redis_refusing_connections_for_2s_refuses_no_message(
    fake_slack: FakeSlack, s3_env: dict[str, str], session_dir: Path, redis_server: RedisServer
) -> None:
    model = ScriptedModel()
    with TcpProxy(redis_server.port) as proxy:
        bot = start_bot(fake_slack, s3_env, session_dir, proxy.url, model)
        try:
            root = bot.mention("refused root", ts=now_ts())
            fake_slack.wait_for("chat.postMessage")
            proxy.refuse()
            down_at = time.monotonic()
            sent, times = send_during(bot, root, "refused", 6, 0.25)
            acked(bot, *sent[1], retry=1)  # Slack retries one during the outage
            time.sleep(max(0.0, 2.0 - (time.monotonic() - down_at)))
            proxy.accept()
            assert_answered_once(fake_slack, model, "refused", 6)
            acked(bot, *sent[1], retry=2)  # and once more after it
            acked(bot, *sent[2], retry=1)
            time.sleep(1.5)
            assert_answered_once(fake_slack, model, "refused", 6)
            no_apology(fake_slack)
            print("ack seconds, Redis refusing connections:", [f"{t:.3f}" for t in times])
        finally:
            bot.stop()


def test_redis_hanging_for_6s_acks_every_event_in_time(
    fake_slack: FakeSlack, s3_env: dict[str, str], session_dir: Path, redis_server: RedisServer
) -> None:
    model = ScriptedModel()
    bot = start_bot(fake_slack, s3_env, session_dir, redis_server.url, model)
    try:
        root = bot.mention("hung root", ts=now_ts())
        fake_slack.wait_for("chat.postMessage")
        redis_server.pause()
        down_at = time.monotonic()
        try:
            sent, times = send_during(bot, root, "hung", 5, 1.0)
            acked(bot, *sent[0], retry=1)  # a retry while it still hangs
            time.sleep(max(0.0, 6.0 - (time.monotonic() - down_at)))
        finally:
            redis_server.resume()
        assert_answered_once(fake_slack, model, "hung", 5)
        acked(bot, *sent[0], retry=2)
        time.sleep(1.5)
        assert_answered_once(fake_slack, model, "hung", 5)
        no_apology(fake_slack)
        print("ack seconds, Redis hanging:", [f"{t:.3f}" for t in times])
    finally:
        bot.stop()


def test_held_messages_of_a_dead_process_are_queued_by_another(
    fake_slack: FakeSlack, s3_env: dict[str, str], session_dir: Path, redis_server: RedisServer
) -> None:
    """The accepting process dies before Redis is back: the marker in `inbox/pending/` lets
    another process's worker sweep queue the message."""
    with TcpProxy(redis_server.port) as proxy:
        first = start_bot(fake_slack, s3_env, session_dir, proxy.url, ScriptedModel())
        first.runtime.worker.stop(timeout=1)  # an accept-only process, soon dead
        proxy.refuse()
        event = mention_event("held by the dead", "C1", now_ts())
        acked(first, event, "EvDead")
        first.runtime.intake.pending._held.clear()  # it dies with its in-process list
        first.server.shutdown()
        first.server.server_close()
        proxy.accept()
        model = ScriptedModel()
        second = start_bot(fake_slack, s3_env, session_dir, redis_server.url, model)
        try:
            second.runtime.intake.pending._next_sweep = 0.0
            wait_answered(fake_slack, ("held by the dead",), timeout=20)
            assert answers(fake_slack, "held by the dead") == 1
            assert not list(second.runtime.inbox.blobs.keys("inbox/pending/"))
        finally:
            second.stop()


def test_redis_and_s3_both_down_means_500_then_a_visible_apology(
    fake_slack: FakeSlack,
    s3_server,
    s3_env: dict[str, str],
    session_dir: Path,
    redis_server: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with FaultyProxy(s3_server.endpoint_url) as s3_proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", s3_proxy.url)
        bot = start_bot(fake_slack, s3_env, session_dir, redis_server.url, ScriptedModel())
        try:
            redis_server.stop()
            s3_proxy.fail_next(100, status=503)
            event = mention_event("nobody home", "C1", now_ts())
            status, _ = bot.event(event, event_id="EvBoth")
            assert status == 500  # not acknowledged: Slack will retry
            status, _ = bot.event(event, event_id="EvBoth", retry_num=3, retry_reason="http_error")
            assert status == 200
            apology = fake_slack.wait_for("chat.postMessage")[0]
            assert "can't take messages" in apology.params["text"]
        finally:
            s3_proxy.clear()
            bot.stop()


def test_the_breaker_skips_redis_after_a_failure_then_lets_one_call_find_out() -> None:
    calls: list[str] = []
    breaker = Breaker(open_seconds=0.2, on_recover=lambda scope: calls.append("recover"))

    def down() -> None:
        calls.append("down")
        raise RedisConnectionError("refused")

    with pytest.raises(RedisConnectionError):
        breaker.call(down)
    with pytest.raises(CircuitOpen):  # not asked: failed moments ago
        breaker.call(calls.append, "skipped")
    assert calls == ["down"] and not breaker.closed
    time.sleep(0.25)
    breaker.call(calls.append, "back")  # one call finds out (on_recover first); it worked
    breaker.call(calls.append, "closed")
    assert calls == ["down", "recover", "back", "closed"] and breaker.closed


def test_the_breaker_skips_only_the_failed_scope_and_a_probe_may_ask_early() -> None:
    """A cluster primary that fails opens the breaker of its shards only; the held
    messages' flusher (probe) asks again before the open spell is over."""
    recovered: list[object] = []
    breaker = Breaker(open_seconds=60, on_recover=recovered.append)

    def down() -> None:
        raise RedisConnectionError("refused")

    with pytest.raises(RedisConnectionError):
        breaker.call(down, scope=1)
    with pytest.raises(CircuitOpen):
        breaker.call(lambda: None, scope=1)
    assert breaker.call(lambda: "other shard", scope=2) == "other shard"
    assert breaker.call(lambda: "probed", scope=1, probe=True) == "probed"
    assert recovered == [1] and breaker.closed
