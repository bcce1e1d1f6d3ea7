"""A tool's question in the thread (bot/answer/question_message.py) and the clicks on it
(bot/listeners/actions/question.py): a link question opened by the person who asked is
accepted; anyone else is refused privately; a second reply changes nothing."""

from __future__ import annotations

from slack_sdk import WebClient

from bot.answer.question_message import QuestionMessage
from bot.jobs import Job
from bot.store.questions import Questions, Reply
from tests.fakes.slack_api import FakeSlack
from tests.support.approvals import buttons, text_of
from tests.support.harness import Bot, now_ts
from tests.support.questions import click, question
from tests.support.wait import wait_until

LINK = "https://calendar.example.com/connect?state=abc"


def link_question(make_bot, slack: FakeSlack) -> tuple[Bot, QuestionMessage, dict]:
    """A question asking U1 to open a link, shown in a new thread by the process that waits
    on it: the bot (which takes the clicks), the question, and its message as shown."""
    bot = make_bot()
    root = now_ts()
    job = Job(kind="message", team="T1", channel="C1", thread_ts=root, ts=root, user="U1")
    client = WebClient(base_url=slack.base_url, token="xoxb-test")
    asked = QuestionMessage.for_job(
        client,
        Questions(bot.runtime.state),
        job,
        "U1",
        server="calendar",
        message="Connect your calendar first.",
        url=LINK,
    ).post()
    return bot, asked, question(slack, root)


def test_opening_the_link_accepts_and_only_the_asker_can(make_bot, fake_slack: FakeSlack) -> None:
    bot, asked, shown = link_question(make_bot, fake_slack)
    assert "`calendar` asks" in text_of(shown) and "<@U1>" in text_of(shown)
    assert buttons(shown)["question_open"]["url"] == LINK
    assert set(buttons(shown)) == {"question_open", "question_decline"}

    bot.interact(click(fake_slack, shown, "question_open", user="U2"))
    refused = fake_slack.wait_for("chat.postEphemeral", timeout=10)
    assert refused[0].params["user"] == "U2" and asked.reply() is None

    bot.interact(click(fake_slack, shown, "question_open", user="U1"))
    reply = wait_until(asked.reply, 10, "the asker's reply")
    assert reply == Reply("accept", "U1")
    bot.interact(click(fake_slack, shown, "question_decline", user="U1"))  # too late
    told = fake_slack.wait_for("chat.postEphemeral", count=2, timeout=10)
    assert "already has an answer" in told[1].params["text"] and asked.reply() == reply

    assert asked.close(reply) == reply
    assert buttons(question(fake_slack, shown["thread_ts"], "Answered by <@U1>")) == {}


def test_a_question_left_unanswered_closes_as_cancelled(make_bot, fake_slack: FakeSlack) -> None:
    bot, asked, shown = link_question(make_bot, fake_slack)
    assert asked.close(None) == Reply("cancel", "")
    bot.interact(click(fake_slack, shown, "question_open", user="U1"))
    closed = fake_slack.wait_for("chat.postEphemeral", timeout=10)
    assert "closed" in closed[0].params["text"] and asked.reply() is None
