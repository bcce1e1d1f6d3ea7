"""Every reset path: /reset with a link, a ts, bare, in a DM; the shortcut; `@bot reset`."""

from __future__ import annotations

import threading
import time

import pytest

from tests.fakes.model import ScriptedModel
from tests.support.harness import message_event, next_ts, now_ts
from tests.support.wait import wait_until


def permalink(channel: str, ts: str) -> str:
    return f"https://acme.slack.com/archives/{channel}/p{ts.replace('.', '')}"


def start_thread(
    bot, fake_slack, text: str = "remember 7", channel: str = "C1", user: str = "U1"
) -> str:
    count = len(fake_slack.calls("chat.postMessage"))
    root = bot.mention(text, channel=channel, user=user)
    fake_slack.wait_for("chat.postMessage", count=count + 1)
    return root["ts"]


def assert_forgotten(bot, fake_slack, model: ScriptedModel, thread_ts: str) -> None:
    count = len(fake_slack.calls("chat.postMessage"))
    bot.reply("what did I say?", thread_ts=thread_ts)
    fake_slack.wait_for("chat.postMessage", count=count + 1)
    assert model.calls[-1]["messages"] == [
        {"role": "user", "content": [{"text": "what did I say?"}]}
    ]


def wait_for_note(fake_slack, thread_ts: str) -> None:
    fake_slack.wait_for(
        "chat.postMessage",
        lambda c: c.params.get("thread_ts") == thread_ts and "reset" in c.params["text"],
    )


@pytest.mark.parametrize("form", ["link", "ts", "link_in_brackets", "reply_link"])
def test_reset_by_argument(make_bot, fake_slack, form: str) -> None:
    model = ScriptedModel()
    bot = make_bot(model)
    ts = start_thread(bot, fake_slack)
    argument = {
        "link": permalink("C1", ts),
        "ts": ts,
        "link_in_brackets": f"<{permalink('C1', ts)}>",
        "reply_link": f"{permalink('C1', '1700000999.000001')}?thread_ts={ts}&cid=C1",
    }[form]
    status, body = bot.command(argument)
    assert status == 200 and "Resetting" in body
    wait_for_note(fake_slack, ts)
    ephemeral = fake_slack.wait_for("chat.postEphemeral")[0]
    assert ephemeral.params["user"] == "U1" and "Reset done" in ephemeral.params["text"]
    assert_forgotten(bot, fake_slack, model, ts)


def test_bare_reset_clears_the_users_most_recent_thread(make_bot, fake_slack) -> None:
    model = ScriptedModel()
    bot = make_bot(model)
    older = start_thread(bot, fake_slack, "old")
    newer = start_thread(bot, fake_slack, "new")
    other_user = start_thread(bot, fake_slack, "theirs", user="U2")
    status, body = bot.command("")
    assert status == 200 and newer in body
    wait_for_note(fake_slack, newer)
    assert_forgotten(bot, fake_slack, model, newer)
    for kept in (older, other_user):
        bot.reply("still there?", thread_ts=kept)
        fake_slack.wait_for(
            "chat.postMessage", lambda c, k=kept: c.params.get("thread_ts") == k, count=2
        )
        assert len(model.calls[-1]["messages"]) == 3


def test_bare_reset_with_no_thread_explains(make_bot, fake_slack) -> None:
    bot = make_bot()
    status, body = bot.command("", channel="C5")
    assert status == 200 and "couldn't find a thread" in body


def test_bare_reset_in_a_dm_clears_the_dm(make_bot, fake_slack) -> None:
    model = ScriptedModel()
    bot = make_bot(model)
    bot.event(message_event("remember 9", "D1", next_ts(), channel_type="im"))
    fake_slack.wait_for("chat.postMessage")
    status, body = bot.command("", channel="D1")
    assert status == 200 and "DM" in body
    fake_slack.wait_for("chat.postMessage", lambda c: "reset" in c.params["text"])
    bot.event(message_event("what number?", "D1", next_ts(), channel_type="im"))
    fake_slack.wait_for("chat.postMessage", count=3)
    assert len(model.calls[-1]["messages"]) == 1


@pytest.mark.parametrize(
    "argument,expected",
    [
        (permalink("C9", "1700000000.000100"), "not here"),
        ("https://evil.example.com/archives/C1/p1700000000000100", "can't read"),
        ("../../etc/passwd", "can't read"),
        ("'; DROP TABLE sessions; --", "can't read"),
        ("1700000000.000100?thread_ts=../../x", "can't read"),
    ],
)
def test_bad_or_foreign_reset_targets_are_refused(make_bot, fake_slack, argument, expected) -> None:
    model = ScriptedModel()
    bot = make_bot(model)
    ts = start_thread(bot, fake_slack)
    status, body = bot.command(argument)
    assert status == 200 and expected in body
    bot.reply("still remembered?", thread_ts=ts)
    fake_slack.wait_for("chat.postMessage", count=2)
    assert len(model.calls[-1]["messages"]) == 3


def test_message_shortcut_resets_the_thread_of_any_message(make_bot, fake_slack) -> None:
    model = ScriptedModel()
    bot = make_bot(model)
    ts = start_thread(bot, fake_slack)
    reply = {"type": "message", "user": "U1", "ts": next_ts(), "thread_ts": ts, "text": "x"}
    status, _ = bot.shortcut("C1", reply)
    assert status == 200
    wait_for_note(fake_slack, ts)
    assert fake_slack.wait_for("chat.postEphemeral")[0].params["thread_ts"] == ts
    assert_forgotten(bot, fake_slack, model, ts)


def test_mention_reset_inside_a_thread(make_bot, fake_slack) -> None:
    model = ScriptedModel()
    bot = make_bot(model)
    ts = start_thread(bot, fake_slack)
    bot.mention("reset", thread_ts=ts)
    wait_for_note(fake_slack, ts)
    assert len(model.calls) == 1
    assert_forgotten(bot, fake_slack, model, ts)


def test_a_reset_thread_is_not_read_back_from_slack(make_bot, fake_slack) -> None:
    """With Slack's ts (the time), the thread's messages before the reset (the answer that
    remembered) are older than the reset: the next turn must not get them as context."""
    model = ScriptedModel()
    bot = make_bot(model)
    root = bot.mention("remember 7", ts=now_ts())["ts"]
    fake_slack.wait_for("chat.postMessage")
    bot.mention("reset", thread_ts=root, ts=now_ts())
    wait_for_note(fake_slack, root)
    bot.reply("what did I say?", thread_ts=root, ts=now_ts())
    fake_slack.wait_for("chat.postMessage", count=3)
    assert model.calls[-1]["messages"] == [
        {"role": "user", "content": [{"text": "what did I say?"}]}
    ]


def test_reset_waits_for_the_running_turn_and_is_acked_fast(make_bot, fake_slack) -> None:
    fake_slack.rate_limits = False  # about the turn pool: 70 answers in C1 burst on purpose
    gate = threading.Event()
    model = ScriptedModel(block_until=gate)
    bot = make_bot(model)
    roots = [bot.mention(f"slow {i}")["ts"] for i in range(70)]  # more than the turn pool
    wait_until(lambda: len(model.calls) >= 64, 10, "64 turns running (the pool full)", 0.05)
    started = time.monotonic()
    status, body = bot.command(roots[0])
    assert status == 200 and time.monotonic() - started < 3, "ack must beat Slack's 3 s"
    time.sleep(0.3)
    assert not any("reset" in c.params["text"] for c in fake_slack.calls("chat.postMessage"))
    gate.set()
    wait_for_note(fake_slack, roots[0])
    thread = [
        c.params["text"]
        for c in fake_slack.calls("chat.postMessage")
        if c.params.get("thread_ts") == roots[0]
    ]
    assert thread[0].startswith("reply to: slow 0") and "reset" in thread[1]
    fake_slack.wait_for("chat.postMessage", count=71, timeout=20)
