"""Dependencies failing under a running bot: Redis, S3, Slack and the model."""

from __future__ import annotations

import threading
import time

from tests.fakes.model import ScriptedModel
from tests.fakes.redis_server import RedisServer
from tests.fakes.s3_server import FaultyProxy
from tests.support.bot import model_called
from tests.support.harness import Bot, base_env, mention_event, message_event, next_ts


def test_redis_down_at_ack_time_holds_the_message_until_it_is_back(fake_slack, session_dir) -> None:
    """Storage up (files here): held in the durable inbox, acked, answered once Redis is
    back (both down: tests/intake/test_redis_outage.py)."""
    with RedisServer() as redis_server:
        env = base_env(
            fake_slack.base_url, SESSION_DIR=str(session_dir), REDIS_URL=redis_server.url
        )
        with Bot(env, ScriptedModel()) as bot:
            redis_server.stop()
            event = mention_event("hello", "C1", next_ts())
            status, _ = bot.event(event, event_id="EvDown")
            assert status == 200
            redis_server.restart()
            answer = fake_slack.wait_for("chat.postMessage", timeout=20)[0]
            assert answer.params["thread_ts"] == event["ts"]
            assert answer.params["text"].startswith("reply to: hello")
            redis_server.stop()
            status, body = bot.command("")
            assert status == 200 and "can't take messages" in body


def test_redis_restart_mid_flight_loses_nothing(fake_slack, session_dir) -> None:
    with RedisServer() as redis_server:
        model = ScriptedModel()
        env = base_env(
            fake_slack.base_url, SESSION_DIR=str(session_dir), REDIS_URL=redis_server.url
        )
        with Bot(env, model) as bot:
            root = bot.mention("before the blip")
            fake_slack.wait_for("chat.postMessage")
            redis_server.restart(down_seconds=1.0)  # a fresh, empty Redis
            bot.reply("after the blip", thread_ts=root["ts"])
            fake_slack.wait_for("chat.postMessage", count=2, timeout=20)
            assert "before the blip" in str(model.calls[-1]["messages"])  # memory is in storage


def test_s3_errors_are_retried_and_then_the_turn_succeeds(
    fake_slack, s3_server, s3_env, session_dir, monkeypatch
) -> None:
    with FaultyProxy(s3_server.endpoint_url) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        model = ScriptedModel()
        env = base_env(
            fake_slack.base_url,
            SESSION_DIR=str(session_dir),
            **{k: v for k, v in s3_env.items() if k.startswith("SESSION")},
        )
        with Bot(env, model) as bot:
            root = bot.mention("first")
            fake_slack.wait_for("chat.postMessage")
            proxy.fail_next(6, status=503)  # more than botocore's own retries absorb
            event = message_event("second", "C1", next_ts(), root["ts"])
            statuses = [bot.event(event, event_id="Ev0FAULTS1")[0]]
            while statuses[-1] != 200 and len(statuses) < 4:  # Slack's retries
                statuses.append(
                    bot.event(
                        event,
                        event_id="Ev0FAULTS1",
                        retry_num=len(statuses),
                        retry_reason="http_error",
                    )[0]
                )
            assert statuses[-1] == 200 and set(statuses[:-1]) <= {500}, statuses
            answer = fake_slack.wait_for("chat.postMessage", count=2, timeout=30)[-1]
            assert answer.params["text"].startswith("reply to: second")
            assert len(model.calls[-1]["messages"]) == 3
            model.block_until = threading.Event()  # now S3 fails while a turn runs
            bot.reply("third", thread_ts=root["ts"])
            model_called(model, count=3)
            proxy.fail_next(6, status=503)  # the commit's PUT, then its retry's restore
            model.block_until.set()
            answer = fake_slack.wait_for("chat.postMessage", count=3, timeout=30)[-1]
            assert answer.params["text"].startswith("reply to: third")
        assert sum(1 for method, _ in proxy.requests if method == "PUT") >= 3  # went via the proxy


def test_slack_errors_on_posting_are_retried_without_a_second_model_call(
    make_bot, fake_slack
) -> None:
    model = ScriptedModel()
    bot = make_bot(model)
    fake_slack.fail_next("chat.postMessage", times=1, status=429, retry_after=0)
    bot.mention("rate limited")
    fake_slack.wait_for("chat.postMessage", timeout=15)
    fake_slack.fail_next("chat.postMessage", times=4, status=503)  # beyond slack_sdk's retries
    bot.mention("server errors")
    posted = fake_slack.wait_for("chat.postMessage", count=2, timeout=30)
    assert posted[-1].params["text"].startswith("reply to: server errors")
    time.sleep(0.5)
    assert len(model.calls) == 2  # the stored answer was replayed, not recomputed
    assert len(fake_slack.calls("chat.postMessage", include_failed=False)) == 2


def test_crash_between_posting_and_dequeuing_does_not_post_twice(make_bot, fake_slack) -> None:
    """The answer reached Slack, then the worker died before removing the job from the inbox."""
    model = ScriptedModel()
    bot = make_bot(model)
    state = bot.runtime.state
    real_finish, crashes = state.finish, []

    def finish_once_crashing(lease, count):  # type: ignore[no-untyped-def]
        if not crashes:
            crashes.append(lease.session_id)
            raise ConnectionError("worker died here")
        return real_finish(lease, count)

    state.finish = finish_once_crashing  # type: ignore[method-assign]
    root = bot.mention("only once please")
    fake_slack.wait_for("chat.postMessage")
    fake_slack.wait_for("conversations.replies", timeout=15)  # the replay checked Slack first
    bot.reply("next", thread_ts=root["ts"])
    posted = fake_slack.wait_for("chat.postMessage", count=2, timeout=15)
    assert crashes and [p.params["text"].split(" [")[0] for p in posted] == [
        "reply to: only once please",
        "reply to: next",
    ]
    assert len(model.calls) == 2


def test_model_timeouts_end_in_a_visible_apology_and_valid_history(
    fake_slack, fake_openai, session_dir, monkeypatch
) -> None:
    """The real OpenAI provider against a server that answers too slowly, then recovers."""
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    monkeypatch.setenv("MODEL_TIMEOUT_SECONDS", "0.5")
    fake_openai.delay = 2.0
    env = base_env(fake_slack.base_url, SESSION_DIR=str(session_dir))
    with Bot(env) as bot:
        root = bot.mention("are you there?")
        apology = fake_slack.wait_for("chat.postMessage", timeout=60)[0]
        assert apology.params["thread_ts"] == root["ts"] and "Sorry" in apology.params["text"]
        assert len(fake_openai.requests) >= 2  # the client retried before giving up
        fake_openai.delay = 0
        bot.reply("and now?", thread_ts=root["ts"])
        answer = fake_slack.wait_for("chat.postMessage", count=2, timeout=30)[-1]
    assert answer.params["text"] == "echo: and now? [1 msgs]"  # nothing of the failed turn kept
