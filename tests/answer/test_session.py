"""Every thread the bot answers is a Slack agent session: its status follows the turn, Slack's
own stop button stops the answer on whichever process runs it, and where Slack refuses
sessions the bot falls back to the status line, reactions and its own Stop button.

The fake Web API keeps each thread's session as Slack documents it (tests/fakes/slack_agents.py);
events are built from stored real bodies (tests/fakes/slack_payloads.py).
"""

from __future__ import annotations

import json
import logging

import pytest

from bot.answer.titles import session_title
from tests.fakes.model import PoisonedModel, ScriptedModel
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import session_stopped_event
from tests.support.bot import settle, slow
from tests.support.harness import Bot
from tests.support.wait import wait_until

QUESTION = "hey, can you compare our two deploy pipelines? The old one is slower."


def streaming_bot(make_bot, model: ScriptedModel) -> Bot:
    return make_bot(model, STREAMING="on")


def stop_buttons(slack: FakeSlack, thread_ts: str) -> int:
    """Our own Stop buttons the thread's streamed messages carried."""
    return sum(
        json.dumps(m["chunks"]).count('"stop_answer"')
        for m in slack.streams.messages.values()
        if m["thread_ts"] == thread_ts
    )


def test_a_turn_is_processing_then_active_with_a_title_and_slacks_own_stop(
    make_bot, fake_slack: FakeSlack
) -> None:
    bot = streaming_bot(make_bot, slow("First answer. " * 20))
    root = bot.mention(QUESTION)
    settle(bot, timeout=15)
    assert fake_slack.agent_sessions.statuses("C1", root["ts"]) == ["processing", "active"]
    session = fake_slack.agent_sessions.session("C1", root["ts"])
    assert session is not None
    assert session.title == session_title(QUESTION) == "Compare our two deploy pipelines?"
    assert session.initiator == "U1"
    # Slack's session shows the work and its stop button: no status line, no Stop of ours
    assert fake_slack.calls("assistant.threads.setStatus") == []
    assert fake_slack.calls("reactions.add") == []
    assert stop_buttons(fake_slack, root["ts"]) == 0
    assert "First answer." in fake_slack.thread_text("C1", root["ts"])

    bot.reply("and the new one?", thread_ts=root["ts"])
    settle(bot, timeout=15)
    statuses = fake_slack.agent_sessions.statuses("C1", root["ts"])
    assert statuses == ["processing", "active", "processing", "active"]
    assert fake_slack.agent_sessions.session("C1", root["ts"]).title == session.title
    assert fake_slack.stale_messages() == []  # every answer final: no preview, no Stop left


def test_a_reset_closes_the_session(make_bot, fake_slack: FakeSlack) -> None:
    bot = streaming_bot(make_bot, ScriptedModel(["Noted."]))
    root = bot.mention("remember the number 7")
    settle(bot)
    bot.mention("reset", thread_ts=root["ts"])
    settle(bot)
    assert fake_slack.agent_sessions.statuses("C1", root["ts"])[-1] == "closed"


def test_a_failed_turn_leaves_no_session_processing(make_bot, fake_slack: FakeSlack) -> None:
    bot = streaming_bot(make_bot, PoisonedModel())
    root = bot.mention("this is poison")
    settle(bot, timeout=20)
    statuses = fake_slack.agent_sessions.statuses("C1", root["ts"])
    assert statuses and statuses[0] == "processing" and statuses[-1] == "active", statuses
    assert "sorry" in fake_slack.thread_text("C1", root["ts"]).lower()


def test_slacks_stop_sent_to_another_process_stops_the_answer(
    make_bot, fake_slack: FakeSlack
) -> None:
    """Slack delivers the stop event to the process that is not running the turn (both
    share Redis and the model; either may take the turn)."""
    model = slow("word " * 400, chars=5, delay=0.02)
    bots = [streaming_bot(make_bot, model), streaming_bot(make_bot, model)]
    root = bots[0].mention("ramble on")
    fake_slack.wait_for("chat.appendStream")
    [writer] = [bot for bot in bots if bot.runtime.worker.busy]
    [other] = [bot for bot in bots if bot is not writer]
    stopped = fake_slack.agent_sessions.press_stop("C1", root["ts"])
    assert stopped, "Slack stops the session's streaming message itself"
    status, _ = other.event(session_stopped_event("C1", root["ts"], stopped))
    assert status == 200
    settle(writer, timeout=15)
    settle(other)
    [message] = [m for m in fake_slack.streams.messages.values() if m["thread_ts"] == root["ts"]]
    assert message["text"].rstrip().endswith("_(stopped)_")
    assert len(message["text"]) < len("word " * 400)
    assert not fake_slack.stale_messages("C1", root["ts"])
    assert fake_slack.agent_sessions.statuses("C1", root["ts"])[-1] == "active"
    assert len(model.calls) == 1

    writer.reply("thanks", thread_ts=root["ts"])  # the history stays valid
    wait_until(lambda: len(model.calls) == 2, 10, "the next turn")
    roles = [m["role"] for m in model.calls[-1]["messages"]]
    assert roles == ["user", "assistant", "user"]


def test_slacks_stop_with_nothing_running_only_leaves_processing(
    make_bot, fake_slack: FakeSlack
) -> None:
    """A turn killed mid-answer left its session processing; the stop moves it out and does
    not stop the thread's next answer."""
    bot = streaming_bot(make_bot, ScriptedModel(["Next answer."]))
    fake_slack.agent_sessions.handle(
        "agents.sessions.setStatus",
        {"channel_id": "C1", "thread_ts": "1700000001.000100", "status": "processing"},
    )
    status, _ = bot.event(session_stopped_event("C1", "1700000001.000100", []))
    assert status == 200
    wait_until(
        lambda: fake_slack.agent_sessions.statuses("C1", "1700000001.000100")[-1] == "active",
        10,
        "the session out of processing",
    )
    bot.mention("go on", ts=None, thread_ts="1700000001.000100")
    settle(bot)
    assert "Next answer." in fake_slack.thread_text("C1", "1700000001.000100")
    assert "_(stopped)_" not in fake_slack.thread_text("C1", "1700000001.000100")


@pytest.mark.parametrize("error", ["not_agent_app", "missing_scope"])
def test_where_slack_refuses_sessions_the_status_line_and_our_stop_button_stay(
    make_bot, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture, error: str
) -> None:
    caplog.set_level(logging.WARNING)
    fake_slack.agent_sessions.refuse(error)
    bot = streaming_bot(make_bot, slow(*["Fallback answer. " * 20] * 2))
    first = bot.mention("one")
    settle(bot, timeout=15)
    second = bot.mention("two")
    settle(bot, timeout=15)
    assert len(fake_slack.calls("agents.sessions.setStatus")) == 1  # asked once per workspace
    for root in (first, second):
        assert "Fallback answer." in fake_slack.thread_text("C1", root["ts"])
        assert stop_buttons(fake_slack, root["ts"]) == 1
        assert not fake_slack.stale_messages("C1", root["ts"])
    statuses = fake_slack.calls("assistant.threads.setStatus")
    assert {c.params["thread_ts"] for c in statuses} == {first["ts"], second["ts"]}
    refusals = [r for r in caplog.records if "refused agent sessions" in r.getMessage()]
    assert len(refusals) == 1 and error in refusals[0].getMessage()


def test_without_the_stop_subscription_answers_keep_their_own_stop_button(
    make_bot, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    fake_slack.agent_sessions.stop_subscribed = False
    bot = streaming_bot(make_bot, slow(*["Answer. " * 30] * 2))
    first = bot.mention("one")
    settle(bot, timeout=15)
    second = bot.mention("two")
    settle(bot, timeout=15)
    for root in (first, second):
        assert fake_slack.agent_sessions.statuses("C1", root["ts"]) == ["processing", "active"]
    assert stop_buttons(fake_slack, second["ts"]) == 1
    warned = [r for r in caplog.records if "agent_session_stopped" in r.getMessage()]
    assert len(warned) == 1
