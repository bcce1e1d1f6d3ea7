"""`help` and the agent view's suggested prompts, through signed requests to the endpoint."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fakes.model import ScriptedModel
from tests.fakes.slack_api import FakeSlack
from tests.harness import Bot, message_event, next_ts
from tests.listeners.test_events import settle

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
    helps = {(c.params["channel"], c.params.get("thread_ts")): c.params["text"]
             for c in calls if "Here's how I work" in c.params["text"]}
    assert set(helps) == {("C1", root["ts"]), ("D1", None)}  # two threads: in either order
    text = helps["D1", None]
    assert "`default` *Assistant*" in text and "`<id>:`" not in text  # one persona: no hint
    settle(bot)
    assert len(model.calls) == 1  # only "hello"
    bot.reply("what did I say first?", thread_ts=root["ts"])  # help left the history alone
    fake_slack.wait_for("chat.postMessage", count=4)
    assert len(model.calls[-1]["messages"]) == 3
