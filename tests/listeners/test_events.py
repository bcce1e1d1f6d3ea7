"""Mentions, thread replies and DMs through signed HTTP requests to the real endpoint."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fakes.model import PoisonedModel, ScriptedModel
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import load
from tests.support.bot import model_called, settle
from tests.support.harness import Bot, mention_event, message_event, next_ts


def posts(slack: FakeSlack, thread_ts: str | None = None) -> list[str]:
    return [
        c.params["text"]
        for c in slack.calls("chat.postMessage")
        if thread_ts is None or c.params.get("thread_ts") == thread_ts
    ]


def test_mention_is_answered_in_a_thread_and_replies_remember(make_bot, fake_slack) -> None:
    model = ScriptedModel()
    bot = make_bot(model)
    root = bot.mention("my name is Ada")
    call = fake_slack.wait_for("chat.postMessage")[0]
    assert call.params["thread_ts"] == root["ts"] and call.params["channel"] == "C1"
    assert model.calls[0]["messages"][0]["content"] == [{"text": "my name is Ada"}]  # no <@UBOT>
    bot.reply("what is my name?", thread_ts=root["ts"])
    fake_slack.wait_for("chat.postMessage", count=2)
    assert "my name is Ada" in str(model.calls[1]["messages"])
    assert len(model.calls[1]["messages"]) == 3


def stored_event(name: str, **ids: str) -> dict:
    """The event of a stored real body, moved into channel C1 / thread 8.1 (ids only)."""
    event = load(name)["event"]
    event.update({"channel": "C1", **ids})
    return event


@pytest.mark.parametrize(
    "event",
    [
        stored_event("32_message_bot_message_classic.json", thread_ts="8.1"),
        stored_event("31_message_other_bot_bot_profile.json", thread_ts="8.1"),
        message_event("hi", "C1", "9.3", "8.1", user="UBOT"),
        stored_event("15_app_mention_subtype_bot_message.json", thread_ts="8.1"),
        stored_event("14_app_mention_edited.json", thread_ts="8.1"),
        stored_event("35_message_changed_bolt.json"),
        stored_event("37_message_deleted_bolt.json"),
        message_event("top level chatter", "C1", "9.9"),
        message_event("reply in a thread the bot never joined", "C1", "9.10", "7.7"),
        load("53_reaction_added.json")["event"],
        load("53_reaction_added.json")["event"] | {"type": "brand_new_event_type_from_the_future"},
    ],
    ids=[
        "bot_message",
        "bot_profile",
        "own",
        "bot_mention",
        "edited_mention",
        "message_changed",
        "message_deleted",
        "top_level",
        "unjoined_thread",
        "reaction",
        "unknown_type",
    ],
)
def test_ignored_events_are_acked_without_a_model_call(make_bot, fake_slack, event) -> None:
    model = ScriptedModel()
    bot = make_bot(model)
    bot.mention("join thread 8.1", ts="8.1")
    fake_slack.wait_for("chat.postMessage")
    status, _ = bot.event(event)
    assert status == 200
    settle(bot)
    assert len(model.calls) == 1


def test_slack_retry_is_answered_once(make_bot, fake_slack) -> None:
    model = ScriptedModel(delay=0.3)
    bot = make_bot(model)
    event = mention_event("hello", "C1", next_ts())
    assert bot.event(event, event_id="EvRetry")[0] == 200
    for attempt in (1, 2, 3):
        status, _ = bot.event(
            event, event_id="EvRetry", retry_num=attempt, retry_reason="http_timeout"
        )
        assert status == 200
    settle(bot)
    assert len(model.calls) == 1 and len(posts(fake_slack)) == 1


def test_thread_mention_delivered_twice_is_answered_once(make_bot, fake_slack) -> None:
    model = ScriptedModel()
    bot = make_bot(model)
    root = bot.mention("start")
    fake_slack.wait_for("chat.postMessage")
    ts = next_ts()
    as_message = message_event("<@UBOT> again", "C1", ts, root["ts"])
    as_mention = mention_event("again", "C1", ts, root["ts"])
    assert bot.event(as_message, event_id="EvA")[0] == 200
    assert bot.event(as_mention, event_id="EvB")[0] == 200
    settle(bot)
    assert len(model.calls) == 2 and len(posts(fake_slack)) == 2


def test_group_dm_mention_is_answered_once_with_or_without_app_mention(
    make_bot, fake_slack
) -> None:
    model = ScriptedModel()
    bot = make_bot(model)
    group = load("34_message_mpim_toplevel_docs.json")["event"]  # a real mpim message
    only_message = group | {"text": "<@UBOT> plan the offsite", "ts": next_ts()}
    assert bot.event(only_message)[0] == 200
    call = fake_slack.wait_for("chat.postMessage")[0]
    assert (call.params["channel"], call.params["thread_ts"]) == (
        group["channel"],
        only_message["ts"],
    )
    assert model.calls[0]["messages"][-1]["content"] == [{"text": "plan the offsite"}]
    ts = next_ts()
    assert bot.event(group | {"text": "<@UBOT> and lunch?", "ts": ts})[0] == 200
    assert bot.event(mention_event("and lunch?", group["channel"], ts))[0] == 200
    settle(bot)
    assert len(model.calls) == 2 and len(posts(fake_slack)) == 2


def test_dm_is_one_conversation_answered_in_place(make_bot, fake_slack) -> None:
    model = ScriptedModel()
    bot = make_bot(model)
    for count, text in enumerate(("remember 42", "what number?"), start=1):
        bot.event(message_event(text, "D1", next_ts(), channel_type="im"))
        fake_slack.wait_for("chat.postMessage", count=count)
    assert all(c.params.get("thread_ts") is None for c in fake_slack.calls("chat.postMessage"))
    assert "remember 42" in str(model.calls[1]["messages"])


def test_model_error_gets_a_visible_reply_and_history_stays_valid(make_bot, fake_slack) -> None:
    model = ScriptedModel([RuntimeError("boom")])
    bot = make_bot(model)
    root = bot.mention("first")
    call = fake_slack.wait_for("chat.postMessage")[0]
    assert call.params["thread_ts"] == root["ts"] and "Sorry" in call.params["text"]
    bot.reply("second", thread_ts=root["ts"])
    fake_slack.wait_for("chat.postMessage", count=2)
    assert model.calls[-1]["messages"] == [{"role": "user", "content": [{"text": "second"}]}]


def test_message_for_a_busy_thread_waits_and_is_answered_after(make_bot, fake_slack) -> None:
    gate = threading.Event()
    model = ScriptedModel(block_until=gate)
    bot = make_bot(model)
    root = bot.mention("first")
    model_called(model)
    bot.reply("second", thread_ts=root["ts"])
    bot.reply("third", thread_ts=root["ts"])
    time.sleep(0.3)
    assert len(model.calls) == 1  # not processed concurrently
    gate.set()
    fake_slack.wait_for("chat.postMessage", count=2)
    settle(bot)
    assert len(model.calls) == 2  # the two queued messages were coalesced into one turn
    last = model.calls[-1]["messages"]
    assert [m["role"] for m in last] == ["user", "assistant", "user"]
    assert last[-1]["content"] == [{"text": "second"}, {"text": "third"}]


def test_one_worker_keeps_fifty_slow_threads_in_flight(make_bot, fake_slack) -> None:
    fake_slack.rate_limits = False  # about parallel turns: 50 answers in C1 burst on purpose
    model = ScriptedModel(delay=1.0)
    bot = make_bot(model)
    started = time.monotonic()
    for _ in range(50):
        bot.mention("slow question")
    fake_slack.wait_for("chat.postMessage", count=50, timeout=30)
    elapsed = time.monotonic() - started
    assert len({c.params["thread_ts"] for c in fake_slack.calls("chat.postMessage")}) == 50
    assert elapsed < 25, f"50 one-second turns took {elapsed:.1f}s: threads are not parallel"


PERSONAS = """
[[persona]]
id = "alice"
name = "Alice"
system_prompt = "You are Alice."
icon_emoji = ":woman:"

[[persona]]
id = "bob"
name = "Bob"
system_prompt = "You are Bob."
channels = ["C2"]
"""


def test_personas_address_stick_and_keep_separate_memories(
    make_bot: Callable[..., Bot], fake_slack: FakeSlack, tmp_path: Path
) -> None:
    personas_file = tmp_path / "personas.toml"
    personas_file.write_text(PERSONAS)
    model = ScriptedModel()
    bot = make_bot(model, PERSONAS_FILE=str(personas_file))
    root = bot.mention("remember apples")  # C1 default: alice
    fake_slack.wait_for("chat.postMessage")
    bot.reply("bob: remember pears", thread_ts=root["ts"])
    fake_slack.wait_for("chat.postMessage", count=2)
    bot.reply("what fruit?", thread_ts=root["ts"])  # sticks to bob
    calls = fake_slack.wait_for("chat.postMessage", count=3)
    assert [c.params.get("username") for c in calls] == ["Alice", "Bob", "Bob"]
    assert calls[0].params.get("icon_emoji") == ":woman:"
    bob_sees = str(model.calls[-1]["messages"])
    assert model.calls[-1]["system_prompt"] == "You are Bob."
    assert "pears" in bob_sees and "apples" not in bob_sees
    bot.reply("Alice: and you?", thread_ts=root["ts"])
    fake_slack.wait_for("chat.postMessage", count=4)
    alice_sees = str(model.calls[-1]["messages"])
    assert "apples" in alice_sees and "pears" not in alice_sees
    bot.mention("hi", channel="C2")
    assert fake_slack.wait_for("chat.postMessage", count=5)[-1].params["username"] == "Bob"


def test_embedded_mode_without_redis(make_bot, fake_slack) -> None:
    model = ScriptedModel()
    bot = make_bot(model, redis=False)
    assert not bot.runtime.state.distributed
    root = bot.mention("hello")
    fake_slack.wait_for("chat.postMessage")
    bot.reply("again", thread_ts=root["ts"])
    fake_slack.wait_for("chat.postMessage", count=2)
    assert len(model.calls[-1]["messages"]) == 3


def test_a_poisoned_message_does_not_sink_the_messages_queued_with_it(make_bot, fake_slack) -> None:
    gate = threading.Event()
    model = PoisonedModel(block_until=gate)
    bot = make_bot(model)
    root = bot.mention("start")
    model_called(model)
    for text in ("good one", "poison pill", "good two"):  # queued: one coalesced turn
        bot.reply(text, thread_ts=root["ts"])
    gate.set()
    fake_slack.wait_for("chat.postMessage", count=4, timeout=15)
    settle(bot)
    answers = posts(fake_slack, root["ts"])
    assert len(answers) == 4 and "Sorry" in answers[2], answers
    assert "good one" in answers[1] and "good two" in answers[3]
    history = model.calls[-1]["messages"]
    assert "poison" not in str(history) and [m["role"] for m in history][-1] == "user"
