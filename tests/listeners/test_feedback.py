"""Controls on answers: 👍/👎 feedback, the Stop button, and stop words."""

from __future__ import annotations

import threading
import time

import pytest

from bot.jobs import session_id
from bot.stop import STOP_ANY, stop_key
from tests.fakes.model import ScriptedModel
from tests.fakes.slack_api import FakeSlack
from tests.harness import Bot, mention_event, message_event, next_ts
from tests.listeners.test_events import settle


def wait_until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def busy_thread(bot: Bot, model: ScriptedModel) -> dict:
    """A thread whose first answer is being computed (the model waits for its gate)."""
    root = bot.mention("write a long essay")
    wait_until(lambda: model.calls)
    return root


@pytest.mark.parametrize("redis", [True, False], ids=["redis", "in_process"])
def test_stop_word_sets_the_stop_fact_at_once_and_queues_no_turn(
    make_bot, fake_slack: FakeSlack, redis: bool
) -> None:
    gate = threading.Event()
    model = ScriptedModel(block_until=gate)
    bot = make_bot(model, redis=redis)
    root = busy_thread(bot, model)
    sid = session_id("T1", "C1", root["ts"])
    state = bot.runtime.state
    stop = message_event("Stop!", "C1", next_ts(), root["ts"])
    assert bot.event(stop, event_id="EvStop")[0] == 200
    assert state.fact(stop_key(sid)) == STOP_ANY  # set while the answer is still running
    assert [job.ts for job in state.queued(sid)] == [root["ts"]]  # not queued behind it
    gate.set()
    fake_slack.wait_for("chat.postMessage")
    settle(bot)
    assert len(model.calls) == 1 and len(fake_slack.calls("chat.postMessage")) == 1

    state.set_fact(stop_key(sid), None)  # what the next turn does when it starts
    assert bot.event(stop, event_id="EvStop", retry_num=1, retry_reason="http_timeout")[0] == 200
    assert state.fact(stop_key(sid)) is None  # a late retry does not stop the next answer


def test_stop_mention_in_the_thread_sets_the_fact_once(make_bot, fake_slack) -> None:
    gate = threading.Event()
    model = ScriptedModel(block_until=gate)
    bot = make_bot(model)
    root = busy_thread(bot, model)
    sid = session_id("T1", "C1", root["ts"])
    ts = next_ts()
    assert bot.event(mention_event("cancel", "C1", ts, root["ts"]), event_id="EvM")[0] == 200
    assert bot.runtime.state.fact(stop_key(sid)) == STOP_ANY
    bot.runtime.state.set_fact(stop_key(sid), None)
    # The same message delivered again as a `message` (a group DM does that): counted once.
    as_message = message_event("<@UBOT> cancel", "C1", ts, root["ts"])
    assert bot.event(as_message | {"channel_type": "mpim"}, event_id="EvN")[0] == 200
    assert bot.runtime.state.fact(stop_key(sid)) is None
    gate.set()
    fake_slack.wait_for("chat.postMessage")
    settle(bot)
    assert len(model.calls) == 1
