"""A tool's question in the thread (bot/answer/question_message.py) on the strict fake
Slack: a question whose process died (its keep-alive lapsed, never settled) is closed by the
next question in the thread; a settled one, or one still asked beside it, is left alone."""

from __future__ import annotations

from slack_sdk import WebClient

from bot.answer.question_message import QuestionMessage
from bot.jobs import Job
from bot.store.facts import QUESTION
from bot.store.memory_state import MemoryState
from bot.store.questions import Questions, Reply
from tests.fakes.slack_api import FakeSlack
from tests.support.approvals import buttons, text_of
from tests.support.harness import now_ts

ROOT = now_ts()
JOB = Job(kind="turn", team="T1", channel="C1", thread_ts=ROOT, ts=ROOT, user="U1")


def ask(client: WebClient, questions: Questions, message: str) -> QuestionMessage:
    return QuestionMessage.for_job(
        client, questions, JOB, "U1", server="tables", message=message,
        schema={"properties": {"day": {"type": "string"}}},
    ).post()  # fmt: skip


def shown(slack: FakeSlack, asked: QuestionMessage) -> dict:
    found = slack.messages.find("C1", asked.ts)
    assert found is not None
    return found


def test_the_next_question_closes_one_whose_process_died(fake_slack: FakeSlack) -> None:
    state = MemoryState()
    client, questions = WebClient(base_url=fake_slack.base_url, token="xoxb-t"), Questions(state)
    dead = ask(client, questions, "Which day?")
    settled = ask(client, questions, "How many?")
    settled.close(Reply("decline", "U1"))
    beside = ask(client, questions, "Window seat?")  # still asked: its call runs on
    state.set_fact(QUESTION.key(dead.question.id), None)  # its process died: no keep-alive

    ask(client, questions, "Which day, again?")  # the replayed call asks anew

    assert "Closed" in text_of(shown(fake_slack, dead)) and buttons(shown(fake_slack, dead)) == {}
    assert "the tool call that asked it ended" in text_of(shown(fake_slack, dead))
    assert "Declined by <@U1>" in text_of(shown(fake_slack, settled))
    assert set(buttons(shown(fake_slack, beside))) == {"question_answer", "question_decline"}
    assert questions.find(dead.question.id) is None
    assert not questions.reply(dead.question.id, Reply("accept", "U1"))  # settled as cancel
