"""The Home tab's Reset button does what /reset does, then shows the thread `closed`
(bot/listeners/actions/home_reset.py); a /reset shows there too."""

from __future__ import annotations

import json

from tests.fakes.model import ScriptedModel
from tests.fakes.slack_api import FakeSlack
from tests.support.bot import settle
from tests.support.harness import Bot
from tests.support.home import click_reset, home_threads, open_home, wait_home


def start_thread(bot: Bot, slack: FakeSlack, text: str, user: str = "U1") -> str:
    ts = slack.add_message("C1", text, user=user)
    count = len(slack.calls("chat.postMessage"))
    bot.mention(text, ts=ts, user=user)
    slack.wait_for("chat.postMessage", count=count + 1)
    return ts


def statuses(view: dict) -> dict[str, str]:
    return {json.loads(t["value"])["thread_ts"]: t["status"] for t in home_threads(view)}


def test_reset_from_home_forgets_the_thread_and_shows_it_closed(make_bot, fake_slack) -> None:
    model = ScriptedModel()
    bot = make_bot(model)
    kept = start_thread(bot, fake_slack, "remember 7")
    reset = start_thread(bot, fake_slack, "remember 9")
    settle(bot)
    [button] = [t for t in home_threads(open_home(bot, fake_slack)) if reset in t["value"]]
    published = len(fake_slack.calls("views.publish"))
    click_reset(bot, button["value"])
    view = wait_home(fake_slack, "U1", lambda v: statuses(v)[reset] == "closed", "closed")
    assert statuses(view) == {reset: "closed", kept: "active"}
    settle(bot)
    assert len(fake_slack.calls("views.publish")) == published + 1  # republished once
    assert "reset" in fake_slack.thread_text("C1", reset)  # the thread says so, as /reset
    count = len(fake_slack.calls("chat.postMessage"))
    bot.reply("what did I say?", thread_ts=reset)
    fake_slack.wait_for("chat.postMessage", count=count + 1)
    assert model.calls[-1]["messages"] == [
        {"role": "user", "content": [{"text": "what did I say?"}]}
    ]  # its memory is gone: the question starts fresh


def test_a_reset_by_command_shows_closed_on_home(make_bot, fake_slack) -> None:
    bot = make_bot()
    ts = start_thread(bot, fake_slack, "remember 7")
    status, _ = bot.command(ts)
    assert status == 200
    fake_slack.wait_for("chat.postEphemeral")
    settle(bot)
    assert statuses(open_home(bot, fake_slack)) == {ts: "closed"}


def test_reset_only_threads_your_home_lists(make_bot, fake_slack) -> None:
    model = ScriptedModel()
    bot = make_bot(model)
    theirs = start_thread(bot, fake_slack, "remember 7", user="U2")
    settle(bot)
    click_reset(bot, json.dumps({"channel": "C1", "thread_ts": theirs}), user="U1")
    click_reset(bot, "not a value of ours", user="U1")
    settle(bot)
    assert fake_slack.calls("chat.postEphemeral") == []
    assert "reset" not in fake_slack.thread_text("C1", theirs)
    assert statuses(open_home(bot, fake_slack, "U2")) == {theirs: "active"}
