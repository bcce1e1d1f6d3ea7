"""app_home_opened: the messages tab gets the suggested prompts, the Home tab the user's
latest conversations (bot/listeners/events/app_home_opened.py, bot/agent/home.py)."""

from __future__ import annotations

import json

from bot.agent.help import DEFAULT_PROMPTS, PROMPTS_TITLE
from bot.answer.home_threads import HOME_THREADS_MAX
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import home_opened_event
from tests.support.bot import settle
from tests.support.harness import Bot
from tests.support.home import home_threads, open_home


def start_thread(
    bot: Bot, slack: FakeSlack, text: str, user: str = "U1", channel: str = "C1"
) -> str:
    """`user` mentions the bot in a new thread of `channel` (a root Slack knows); once
    answered."""
    ts = slack.add_message(channel, text, user=user)
    count = len(slack.calls("chat.postMessage"))
    bot.mention(text, channel=channel, ts=ts, user=user)
    slack.wait_for("chat.postMessage", count=count + 1)
    return ts


def test_the_messages_tab_gets_the_suggested_prompts(make_bot, fake_slack: FakeSlack) -> None:
    bot = make_bot()
    status, _ = bot.event(home_opened_event("messages", user="U1", channel="D1"))
    assert status == 200
    [call] = fake_slack.wait_for("assistant.threads.setSuggestedPrompts")
    assert call.params["channel_id"] == "D1" and "thread_ts" not in call.params
    assert call.params["title"] == PROMPTS_TITLE
    prompts = call.params["prompts"]
    assert (json.loads(prompts) if isinstance(prompts, str) else prompts) == list(DEFAULT_PROMPTS)
    settle(bot)
    assert fake_slack.calls("chat.postMessage") == [] and fake_slack.calls("views.publish") == []


def test_the_home_tab_lists_the_users_threads_newest_first(make_bot, fake_slack) -> None:
    bot = make_bot()
    first = start_thread(bot, fake_slack, "Summarize the quarterly report please.")
    second = start_thread(bot, fake_slack, "hey, draft a note to the team")
    settle(bot)
    before = len(fake_slack.calls())
    view = open_home(bot, fake_slack, "U1")
    settle(bot)
    assert [c.method for c in fake_slack.calls()[before:]] == ["views.publish"]  # reads nothing
    assert view["type"] == "home"
    listed = home_threads(view)
    assert [t["title"] for t in listed] == [
        "Draft a note to the team",
        "Summarize the quarterly report please",
    ]
    for thread, ts in zip(listed, (second, first), strict=True):
        assert thread["link"] == f"https://test.slack.com/archives/C1/p{ts.replace('.', '')}"
        assert thread["persona"] == bot.runtime.personas.all[0].id
        assert thread["status"] == "active"
        assert thread["action_id"] == "home_reset_thread"
        assert json.loads(thread["value"]) == {"channel": "C1", "thread_ts": ts}
    assert any("Personas" in json.dumps(b) for b in view["blocks"])


def test_the_home_tab_keeps_the_latest_threads_only(make_bot, fake_slack) -> None:
    bot = make_bot()
    roots = []
    for n in range(HOME_THREADS_MAX + 2):  # a channel each: Slack takes 1 post/s per channel
        roots.append(start_thread(bot, fake_slack, f"question {n}", channel=f"C{n}"))
    settle(bot)
    listed = home_threads(open_home(bot, fake_slack, "U1"))
    assert len(listed) == HOME_THREADS_MAX
    newest = [json.loads(t["value"])["thread_ts"] for t in listed]
    assert newest == roots[::-1][:HOME_THREADS_MAX]


def test_another_users_home_does_not_list_them(make_bot, fake_slack) -> None:
    bot = make_bot()
    start_thread(bot, fake_slack, "a question of U1")
    start_thread(bot, fake_slack, "a question of U2", user="U2", channel="C2")
    settle(bot)
    assert [t["title"] for t in home_threads(open_home(bot, fake_slack, "U2"))] == [
        "A question of U2"
    ]
    assert home_threads(open_home(bot, fake_slack, "U3")) == []


def test_a_thread_slack_cannot_link_falls_back_to_its_channel(make_bot, fake_slack) -> None:
    bot = make_bot()
    bot.mention("a root the fake never saw")  # chat.getPermalink: message_not_found
    fake_slack.wait_for("chat.postMessage")
    settle(bot)
    [thread] = home_threads(open_home(bot, fake_slack, "U1"))
    assert thread["link"] == "https://slack.com/app_redirect?channel=C1&team=T1"
