"""A tool's question to the person who asked (MCP elicitation, bot/agent/elicitation.py):
a real stdio MCP server whose `book_table` asks with the `mcp` package's own `Elicit`
resolver, the bot's real turn path on the strict fake Slack, the scripted model driving
Strands' tool loop, and the person's clicks and form as Slack sends them."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bot.agent.elicitation import Asker, InFlight, refusal
from tests.fakes.model import ScriptedModel
from tests.fakes.slack_api import FakeSlack
from tests.support.approvals import all_final, buttons, text_of
from tests.support.harness import Bot, now_ts
from tests.support.mcp_servers import calls, stdio_command
from tests.support.metrics import in_process, moved
from tests.support.questions import click, question, submit
from tests.support.tool_calls import texts, tool_results
from tests.support.wait import wait_until

BOOK = {"tool": "book_table", "input": {"place": "Luigi's"}, "text": "Let me book it."}


def booking(
    make_bot, tmp_path: Path, slack: FakeSlack, then: str, legacy: bool = False, **env: str
) -> tuple[Bot, ScriptedModel, str, dict]:
    """A bot whose model books a table (then says `then`), mentioned by U1 in a new thread:
    the bot, its model, the thread and the tool's question shown there. `legacy`: the
    server speaks MCP 2025-11-25 (it asks with `elicitation/create`, outside the call)."""
    model = ScriptedModel([BOOK, then])
    path = tmp_path / "personas.toml"
    path.write_text(
        '[[persona]]\nid = "ops"\nsystem_prompt = "You help."\n'
        f'[[persona.mcp]]\nname = "tables"\ncommand = {stdio_command()!r}\n'.replace("'", '"')
        + f'env = {{ MCP_CALLS = "{tmp_path / "calls.jsonl"}", MCP_LEGACY = "{int(legacy)}" }}\n'
        + 'tools = ["book_table"]\n'
    )
    bot = make_bot(model, PERSONAS_FILE=str(path), TOOL_TIMEOUT_SECONDS="2", **env)
    root = now_ts()
    bot.mention("book Luigi's for us", ts=root, user="U1")
    return bot, model, root, question(slack, root)


def answered(slack: FakeSlack, root: str, text: str) -> None:
    wait_until(lambda: text in slack.thread_text("C1", root), 30, f"{text!r} in the thread")


def test_the_asker_answers_in_a_form_on_another_process_and_the_tool_gets_it(
    make_bot, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    other = make_bot()  # takes the clicks and the form; never a turn (its worker is stopped)
    other.runtime.worker.begin_stop()
    before = in_process()
    _, model, root, asked = booking(make_bot, tmp_path, fake_slack, "Booked for Friday.")
    assert "`tables` asks" in text_of(asked) and "which day, and for how many?" in text_of(asked)
    assert set(buttons(asked)) == {"question_answer", "question_decline"}

    status, _ = other.interact(click(fake_slack, asked, "question_answer", user="U2"))
    assert status == 200
    refused = fake_slack.wait_for("chat.postEphemeral", timeout=10)
    assert refused[0].params["user"] == "U2" and "<@U1>" in refused[0].params["text"]
    assert fake_slack.modals.opened("U2") == []

    other.interact(click(fake_slack, asked, "question_answer", user="U1"))
    [form] = wait_until(lambda: fake_slack.modals.opened("U1"), 10, "the form opened")
    labels = [b["label"]["text"] for b in form["blocks"] if b["type"] == "input"]
    assert labels == ["Day", "Seats", "Window"]

    status, body = other.interact(submit(form, {"Day": "2026-12-04", "Seats": 12}))
    assert status == 200 and '"response_action":"errors"' in body.replace(" ", "")
    assert "At most 8" in body  # shown beside the field; nothing reached the tool yet
    time.sleep(2.5)  # longer than TOOL_TIMEOUT_SECONDS: a person's time does not count
    status, body = other.interact(submit(form, {"Day": "2026-12-04", "Seats": 2, "Window": True}))
    assert status == 200 and "errors" not in body

    answered(fake_slack, root, "Booked for Friday.")
    [call] = calls(tmp_path / "calls.jsonl")
    assert call["args"]["answer"] == {"day": "2026-12-04", "seats": 2, "window": True}
    assert "booked Luigi's on 2026-12-04 for 2" in texts(tool_results(model, 1)[-1])
    assert moved(before, "tsb_tool_questions_total", server="tables", outcome="accept") == 1
    assert moved(before, "tsb_tool_question_wait_seconds_count") == 1
    assert moved(before, "tsb_tool_question_wait_seconds_sum") >= 2.5  # the person's time
    settled = question(fake_slack, root, "Answered by <@U1>")
    assert buttons(settled) == {} and "2026-12-04" not in text_of(settled)  # never shown

    status, body = other.interact(submit(form, {"Day": "2026-12-05", "Seats": 3}))
    assert status == 200 and "closed" in body  # a second submission changes nothing
    assert len(calls(tmp_path / "calls.jsonl")) == 1
    all_final(fake_slack, root)


@pytest.mark.parametrize("legacy", [False, True], ids=["in-the-call", "mcp-2025-11-25"])
def test_a_declined_question_reaches_the_server_and_the_model_answers(
    make_bot, fake_slack: FakeSlack, tmp_path: Path, legacy: bool
) -> None:
    """Also from a server before MCP 2026-07-28, whose question comes on its own: the one
    call in flight tells whom it asks."""
    bot, model, root, asked = booking(make_bot, tmp_path, fake_slack, "OK, no booking.", legacy)
    bot.interact(click(fake_slack, asked, "question_decline", user="U1"))
    answered(fake_slack, root, "OK, no booking.")
    [call] = calls(tmp_path / "calls.jsonl")
    assert call["args"]["action"] == "decline" and call["args"]["answer"] is None
    assert "not booked (decline)" in texts(tool_results(model, 1)[-1])
    assert buttons(question(fake_slack, root, "Declined by <@U1>")) == {}
    all_final(fake_slack, root)


def test_an_unanswered_question_is_cancelled_after_its_timeout(
    make_bot, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    done = "Nobody answered, so I did not book."
    bot, _, root, asked = booking(
        make_bot, tmp_path, fake_slack, done, ELICITATION_TIMEOUT_SECONDS="3"
    )
    answered(fake_slack, root, done)
    [call] = calls(tmp_path / "calls.jsonl")
    assert call["args"]["action"] == "cancel"
    assert buttons(question(fake_slack, root, "Closed")) == {}

    bot.interact(click(fake_slack, asked, "question_answer", user="U1"))  # too late
    closed = fake_slack.wait_for("chat.postEphemeral", timeout=10)
    assert "closed" in closed[0].params["text"] and fake_slack.modals.opened("U1") == []
    all_final(fake_slack, root)


def test_a_question_sent_on_its_own_goes_to_the_only_person_with_calls_in_flight() -> None:
    """Servers before MCP 2026-07-28 ask outside the call: the calls in flight decide."""
    in_flight = InFlight()
    ada = Asker("U1", "T1", "C1", "1.1")
    bob = Asker("U2", "T1", "C1", "1.1")
    assert in_flight.only_asker() is None
    with in_flight.call(ada):
        with in_flight.call(Asker("U1", "T1", "C1", "1.1")):
            assert in_flight.only_asker() == ada  # one person, one thread: them
        with in_flight.call(bob):
            assert in_flight.only_asker() is None  # two people: nobody can be told apart
    assert in_flight.only_asker() is None


def test_a_link_must_be_http_without_credentials_and_a_form_not_huge() -> None:
    asker = Asker("U1", "T1", "C1", "1.1", reach=object())  # type: ignore[arg-type]
    assert refusal(asker, "https://auth.example.com/start?x=1", "url") == ""
    assert refusal(asker, "javascript:alert(1)", "url")
    assert refusal(asker, "https://user:pw@example.com/", "url")
    assert refusal(None, "", "form")  # unroutable
    huge = {"properties": {f"f{i}": {"type": "string", "title": "x" * 100} for i in range(500)}}
    assert "schema" in refusal(asker, "", "form", huge)


def test_stopping_the_answer_closes_its_question(
    make_bot, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    bot, _, root, asked = booking(make_bot, tmp_path, fake_slack, "Never said.", STREAMING="on")
    bot.reply("stop", thread_ts=root, user="U1")
    assert buttons(question(fake_slack, root, "Closed")) == {}
    answered(fake_slack, root, "stopped")
    assert "Never said." not in fake_slack.thread_text("C1", root)
    assert calls(tmp_path / "calls.jsonl") == []  # the server never got an answer
    bot.interact(click(fake_slack, asked, "question_answer", user="U1"))  # too late
    closed = fake_slack.wait_for("chat.postEphemeral", timeout=10)
    assert "closed" in closed[0].params["text"] and fake_slack.modals.opened("U1") == []
    all_final(fake_slack, root)


def test_a_question_slack_refuses_to_show_is_declined(
    make_bot, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    """The answer streams (chat.startStream); only the question is a chat.postMessage."""
    fake_slack.set_response("chat.postMessage", {"ok": False, "error": "is_archived"})
    model = ScriptedModel([BOOK, "I could not ask you, so I did not book."])
    path = tmp_path / "personas.toml"
    path.write_text(
        '[[persona]]\nid = "ops"\nsystem_prompt = "You help."\n'
        f'[[persona.mcp]]\nname = "tables"\ncommand = {json.dumps(stdio_command())}\n'
        f'env = {{ MCP_CALLS = "{tmp_path / "calls.jsonl"}" }}\n'
    )
    bot = make_bot(model, PERSONAS_FILE=str(path), STREAMING="on")
    root = now_ts()
    bot.mention("book Luigi's for us", ts=root, user="U1")
    answered(fake_slack, root, "I could not ask you, so I did not book.")
    [call] = calls(tmp_path / "calls.jsonl")
    assert call["args"]["action"] == "decline"
    assert fake_slack.calls("chat.postMessage")  # it was tried
    all_final(fake_slack, root)  # the streamed answer too
