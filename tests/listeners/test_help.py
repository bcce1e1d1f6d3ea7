"""`help` and the agent view's suggested prompts, through signed requests to the endpoint."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bot.agent.help import DEFAULT_PROMPTS, PROMPTS_TITLE
from tests.fakes.model import ScriptedModel
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import load
from tests.support.bot import settle
from tests.support.harness import Bot, message_event, next_ts

PERSONAS = """
[[persona]]
id = "alice"
name = "Alice"
system_prompt = "You are Alice."
description = "Answers general questions."
prompts = ["Plan my week"]

[[persona]]
id = "critic"
name = "Critic"
system_prompt = "You review."
description = "Finds the flaws in a plan."
prompts = ["Review my plan", "Is this email rude?", "Check my numbers", "Spot the risk"]
"""


@pytest.fixture
def personas_bot(make_bot: Callable[..., Bot], tmp_path: Path) -> Callable[..., Bot]:
    def make(model: ScriptedModel, text: str = PERSONAS, **env: str) -> Bot:
        path = tmp_path / "personas.toml"
        path.write_text(text)
        return make_bot(model, PERSONAS_FILE=str(path), **env)

    return make


def test_help_lists_personas_with_descriptions_without_a_model_call(
    personas_bot, fake_slack: FakeSlack
) -> None:
    model = ScriptedModel()
    bot = personas_bot(model)
    root = bot.mention("help")
    call = fake_slack.wait_for("chat.postMessage")[0]
    text = call.params["text"]
    assert call.params["thread_ts"] == root["ts"]
    assert "`alice` *Alice* — Answers general questions." in text
    assert "`critic` *Critic* — Finds the flaws in a plan." in text
    for fact in ("`<id>:`", "*Reset conversation*", "/reset", "`stop`", "PDFs", "remember"):
        assert fact in text, fact
    settle(bot)
    assert model.calls == []


def test_help_alone_in_a_joined_thread_and_in_a_dm(make_bot, fake_slack: FakeSlack) -> None:
    model = ScriptedModel()
    bot = make_bot(model)
    root = bot.mention("hello")
    fake_slack.wait_for("chat.postMessage")
    bot.reply("help", thread_ts=root["ts"])
    bot.event(message_event("Help?", "D1", next_ts(), channel_type="im"))
    calls = fake_slack.wait_for("chat.postMessage", count=3)
    helps = {
        (c.params["channel"], c.params.get("thread_ts")): c.params["text"]
        for c in calls
        if "Here's how I work" in c.params["text"]
    }
    assert set(helps) == {("C1", root["ts"]), ("D1", None)}  # two threads: in either order
    text = helps["D1", None]
    assert "`default` *Assistant*" in text and "`<id>:`" not in text  # one persona: no hint
    settle(bot)
    assert len(model.calls) == 1  # only "hello"
    bot.reply("what did I say first?", thread_ts=root["ts"])  # help left the history alone
    fake_slack.wait_for("chat.postMessage", count=4)
    assert len(model.calls[-1]["messages"]) == 3


def thread_started(channel: str = "D1") -> dict:
    """The stored real assistant_thread_started event (body 52), ids changed."""
    event = load("52_assistant_thread_started.json")["event"]
    event["assistant_thread"].update(channel_id=channel, thread_ts=next_ts(), user_id="U1")
    return event


def test_opening_the_agent_view_sets_suggested_prompts_from_the_personas(
    personas_bot, fake_slack: FakeSlack
) -> None:
    model = ScriptedModel()
    bot = personas_bot(model)
    event = thread_started()
    assert bot.event(event)[0] == 200
    call = fake_slack.wait_for("assistant.threads.setSuggestedPrompts")[0]
    assert (call.params["channel_id"], call.params["thread_ts"], call.params["title"]) == (
        "D1",
        event["assistant_thread"]["thread_ts"],
        PROMPTS_TITLE,
    )
    assert call.params["prompts"] == [
        {"title": "Alice: Plan my week", "message": "alice: Plan my week"},
        {"title": "Critic: Review my plan", "message": "critic: Review my plan"},
        {"title": "Critic: Is this email rude?", "message": "critic: Is this email rude?"},
        {"title": "Critic: Check my numbers", "message": "critic: Check my numbers"},
    ]  # the first 4, in file order
    settle(bot)
    assert model.calls == [] and fake_slack.calls("chat.postMessage") == []


def test_without_configured_prompts_the_agent_view_gets_the_default_set(
    make_bot, fake_slack: FakeSlack
) -> None:
    bot = make_bot(ScriptedModel())
    assert bot.event(thread_started())[0] == 200
    call = fake_slack.wait_for("assistant.threads.setSuggestedPrompts")[0]
    assert call.params["prompts"] == list(DEFAULT_PROMPTS)
    assert {"title": "What can you do?", "message": "help"} in call.params["prompts"]


def test_single_persona_prompts_are_sent_as_written(personas_bot, fake_slack) -> None:
    bot = personas_bot(
        ScriptedModel(),
        '[[persona]]\nid = "solo"\nsystem_prompt = "x"\nprompts = ["Plan my week"]\n',
    )
    assert bot.event(thread_started())[0] == 200
    call = fake_slack.wait_for("assistant.threads.setSuggestedPrompts")[0]
    assert call.params["prompts"] == [{"title": "Plan my week", "message": "Plan my week"}]


def test_a_failed_prompts_call_is_only_logged_and_the_messages_tab_is_just_acked(
    make_bot, fake_slack: FakeSlack
) -> None:
    model = ScriptedModel()
    bot = make_bot(model)
    fake_slack.set_response(
        "assistant.threads.setSuggestedPrompts", {"ok": False, "error": "missing_scope"}
    )
    assert bot.event(thread_started())[0] == 200
    fake_slack.wait_for("assistant.threads.setSuggestedPrompts", include_failed=True)
    messages_tab = load("51_app_home_opened_org_app.json")["event"] | {"channel": "D1"}
    assert messages_tab["tab"] == "messages"
    assert bot.event(messages_tab)[0] == 200
    settle(bot)
    # the messages tab (the agent view) asks for the prompts too: both refused, only logged
    assert len(fake_slack.calls("assistant.threads.setSuggestedPrompts")) == 2
    assert model.calls == [] and fake_slack.calls("chat.postMessage") == []
