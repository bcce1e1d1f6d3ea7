"""Controls on answers: 👍/👎 feedback, the Stop button, and stop words."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from bot.answer.feedback import COUNTS_KEY, FEEDBACK_ACTION, THANKS, Vote, parse_vote
from bot.answer.slack_format import PART_CHARS
from bot.answer.stop import (
    STOP_ACTION,
    STOP_ANY,
    clear_stop,
    parse_stop_value,
    request_stop,
    stop_key,
    stop_requested,
    stop_value,
)
from bot.jobs import reply_thread_of, session_id
from bot.store.memory_state import MemoryState
from tests.fakes.model import ScriptedModel
from tests.fakes.slack_api import Call, FakeSlack
from tests.fakes.slack_payloads import block_action, button_action, feedback_action
from tests.support.bot import settle
from tests.support.harness import Bot, mention_event, message_event, next_ts
from tests.support.wait import wait_until


def busy_thread(bot: Bot, model: ScriptedModel) -> dict:
    """A thread whose first answer is being computed (the model waits for its gate)."""
    root = bot.mention("write a long essay")
    wait_until(lambda: model.calls, 5, "the first model call")
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


# --- 👍 / 👎 --------------------------------------------------------------------------
def buttons(call: Call) -> dict:
    """The feedback_buttons element of a posted answer."""
    actions = call.params["blocks"][-1]
    assert actions["type"] == "context_actions"
    (element,) = actions["elements"]
    assert element["type"] == "feedback_buttons" and element["action_id"] == FEEDBACK_ACTION
    return element


def click(bot: Bot, answer: Call, positive: bool = True, user: str = "U1") -> None:
    """`user` clicks 👍 (or 👎) under the posted `answer`."""
    button = buttons(answer)["positive_button" if positive else "negative_button"]
    action = feedback_action(FEEDBACK_ACTION, button["value"], positive)
    message_ts = answer.params.get("thread_ts") or "1700000999.000001"
    status, _ = bot.interact(block_action(action, answer.params["channel"], message_ts, user))
    assert status == 200


def test_answers_carry_feedback_buttons_on_their_last_part_only(make_bot, fake_slack) -> None:
    long_answer = "\n".join(f"line {i} " + "x" * 60 for i in range(200))
    assert len(long_answer) > PART_CHARS
    bot = make_bot(ScriptedModel([long_answer]))
    root = bot.mention("tell me everything")
    first, last = fake_slack.wait_for("chat.postMessage", count=2)
    assert [b["type"] for b in first.params["blocks"]] == ["markdown"]
    fallback = last.params["text"].removesuffix("…")  # only the notification's text
    assert fallback and fallback in long_answer and len(last.params["text"]) < 4_000
    [markdown] = [b["text"] for b in last.params["blocks"] if b["type"] == "markdown"]
    assert markdown.startswith(fallback) and markdown in long_answer
    element = buttons(last)
    sid = session_id("T1", "C1", root["ts"])
    assert parse_vote(element["positive_button"]["value"]) == Vote(sid, root["ts"], "default", "up")
    assert parse_vote(element["negative_button"]["value"]).vote == "down"


@pytest.mark.parametrize("redis", [True, False], ids=["redis", "in_process"])
def test_a_vote_counts_once_however_often_it_is_clicked(make_bot, fake_slack, redis) -> None:
    bot = make_bot(ScriptedModel(), redis=redis)
    root = bot.mention("hello")
    answer = fake_slack.wait_for("chat.postMessage")[0]
    click(bot, answer)
    click(bot, answer)
    assert bot.runtime.state.counts(COUNTS_KEY) == {"default:up": 1}
    click(bot, answer, user="U2")
    assert bot.runtime.state.counts(COUNTS_KEY) == {"default:up": 2}
    thanks = fake_slack.wait_for("chat.postEphemeral", count=3)  # every click is acknowledged
    assert {(c.params["channel"], c.params["thread_ts"], c.params["text"]) for c in thanks} == {
        ("C1", root["ts"], THANKS)
    }
    assert [c.params["user"] for c in thanks].count("U1") == 2


@pytest.mark.parametrize("redis", [True, False], ids=["redis", "in_process"])
def test_a_changed_vote_moves_to_the_other_side(make_bot, fake_slack, redis) -> None:
    bot = make_bot(ScriptedModel(), redis=redis)
    bot.mention("hello")
    answer = fake_slack.wait_for("chat.postMessage")[0]
    counts = lambda: bot.runtime.state.counts(COUNTS_KEY)  # noqa: E731
    click(bot, answer, positive=True)
    click(bot, answer, positive=False)
    assert counts() == {"default:up": 0, "default:down": 1}
    click(bot, answer, positive=False)
    assert counts() == {"default:up": 0, "default:down": 1}
    click(bot, answer, positive=True)
    assert counts() == {"default:up": 1, "default:down": 0}


PERSONAS = """
[[persona]]
id = "alice"
system_prompt = "You are Alice."

[[persona]]
id = "bob"
system_prompt = "You are Bob."
channels = ["C2"]
"""


def test_votes_are_counted_per_persona_and_answer(make_bot, fake_slack, tmp_path: Path) -> None:
    path = tmp_path / "personas.toml"
    path.write_text(PERSONAS)
    bot = make_bot(ScriptedModel(), PERSONAS_FILE=str(path))
    bot.mention("hi alice")
    alice = fake_slack.wait_for("chat.postMessage")[0]
    bot.mention("hi bob", channel="C2")
    bob = fake_slack.wait_for("chat.postMessage", count=2)[1]
    root = bot.mention("hi again")
    again = fake_slack.wait_for("chat.postMessage", count=3)[2]
    assert [c.params["username"] for c in (alice, bob, again)] == ["alice", "bob", "alice"]
    click(bot, alice)
    click(bot, again)  # another answer: another vote of the same user
    click(bot, bob, positive=False)
    assert bot.runtime.state.counts(COUNTS_KEY) == {"alice:up": 2, "bob:down": 1}
    assert parse_vote(buttons(again)["positive_button"]["value"]).for_ts == root["ts"]


def test_feedback_in_a_dm_thanks_at_the_top_level(make_bot, fake_slack) -> None:
    bot = make_bot(ScriptedModel())
    bot.event(message_event("hello", "D1", next_ts(), channel_type="im"))
    answer = fake_slack.wait_for("chat.postMessage")[0]
    click(bot, answer, positive=False)
    thanks = fake_slack.wait_for("chat.postEphemeral")[0]
    assert (thanks.params["channel"], thanks.params.get("thread_ts")) == ("D1", None)
    assert bot.runtime.state.counts(COUNTS_KEY) == {"default:down": 1}


def test_clicks_that_are_not_ours_are_acked_and_change_nothing(make_bot, fake_slack) -> None:
    bot = make_bot(ScriptedModel())
    for action in (
        feedback_action(FEEDBACK_ACTION, "not json"),
        feedback_action(FEEDBACK_ACTION, '{"s": "x"}'),
        button_action(STOP_ACTION, "no-bar-here"),
        button_action(STOP_ACTION, "../etc|1.2"),
    ):
        assert bot.interact(block_action(action, "C1", next_ts()))[0] == 200
    time.sleep(0.3)
    assert bot.runtime.state.counts(COUNTS_KEY) == {}
    assert fake_slack.calls("chat.postEphemeral") == []


# --- the Stop button ------------------------------------------------------------------
def test_stop_button_sets_the_fact_for_its_answer_and_says_so(make_bot, fake_slack) -> None:
    gate = threading.Event()
    model = ScriptedModel(block_until=gate)
    bot = make_bot(model)
    root = busy_thread(bot, model)
    sid = session_id("T1", "C1", root["ts"])
    action = button_action(STOP_ACTION, stop_value(sid, root["ts"]))
    assert bot.interact(block_action(action, "C1", next_ts(), user="U7"))[0] == 200
    state = bot.runtime.state
    assert state.fact(stop_key(sid)) == root["ts"]
    assert stop_requested(state, sid, [root["ts"]]) and not stop_requested(state, sid, ["9.9"])
    ephemeral = fake_slack.wait_for("chat.postEphemeral")[0]
    assert (
        ephemeral.params["channel"],
        ephemeral.params["thread_ts"],
        ephemeral.params["user"],
        ephemeral.params["text"],
    ) == ("C1", root["ts"], "U7", "Stopping…")
    gate.set()
    fake_slack.wait_for("chat.postMessage")


def test_stop_helpers() -> None:
    state = MemoryState(lock_ttl=30)
    assert parse_stop_value(stop_value("T1_C1_1-2", "1.2")) == ("T1_C1_1-2", "1.2")
    assert parse_stop_value(None) is None and parse_stop_value("T1|x") is None
    assert not stop_requested(state, "s", ["1.2"])
    request_stop(state, "s")
    assert stop_requested(state, "s", ["anything"])
    clear_stop(state, "s")
    assert state.fact(stop_key("s")) is None
    assert reply_thread_of(session_id("T1", "C1", "1700000001.000100")) == "1700000001.000100"
    assert reply_thread_of(session_id("T1", "D1", "dm")) is None
