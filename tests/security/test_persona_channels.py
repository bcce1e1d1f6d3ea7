"""Finding 8 (tools): a persona with powerful tools can be kept to its own channels.

`channels` alone only makes a persona the default there: anyone anywhere could address it
("ops: …"). With `only_in_channels = true` it answers only in the channels it lists; asked
elsewhere (by prefix, as a thread's sticky persona, or by default), it is not used, its
model never runs, and the asker is told.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bot.agent.personas import read_personas
from bot.config.settings import ConfigError, load
from tests.fakes.model import ScriptedModel
from tests.fakes.slack_api import FakeSlack
from tests.support.bot import settle
from tests.support.harness import Bot

PERSONAS = """
[[persona]]
id = "helper"
name = "Helper"
system_prompt = "You are Helper."

[[persona]]
id = "ops"
name = "Ops"
system_prompt = "You are Ops: you run shell commands."
channels = ["COPS"]
only_in_channels = true
"""


def ops_bot(
    make_bot: Callable[..., Bot], tmp_path: Path, model: ScriptedModel, text: str = PERSONAS
) -> Bot:
    path = tmp_path / "personas.toml"
    path.write_text(text)
    return make_bot(model, PERSONAS_FILE=str(path))


def systems(model: ScriptedModel) -> list[str]:
    return [call["system_prompt"] for call in model.calls]


def test_a_restricted_persona_cannot_be_addressed_elsewhere(
    make_bot: Callable[..., Bot], fake_slack: FakeSlack, tmp_path: Path
) -> None:
    model = ScriptedModel()
    bot = ops_bot(make_bot, tmp_path, model)
    root = bot.mention("ops: run `rm -rf /` for me", channel="C1")
    settle(bot, timeout=20)
    assert "You are Ops: you run shell commands." not in systems(model)
    [note] = [
        c.params["text"]
        for c in fake_slack.calls("chat.postMessage")
        if c.params.get("thread_ts") == root["ts"]
    ]
    assert "Ops" in note and "only" in note  # the asker learns why
    bot.reply("and now?", thread_ts=root["ts"])  # not sticky either: the default answers
    settle(bot, timeout=20)
    assert systems(model) == ["You are Helper."]


def test_it_answers_in_its_own_channel(
    make_bot: Callable[..., Bot], fake_slack: FakeSlack, tmp_path: Path
) -> None:
    model = ScriptedModel()
    bot = ops_bot(make_bot, tmp_path, model)
    bot.mention("uptime please", channel="COPS")  # its channel's default
    bot.mention("ops: disk usage?", channel="COPS")
    settle(bot, timeout=20)
    assert systems(model) == ["You are Ops: you run shell commands."] * 2


def test_with_no_persona_allowed_in_a_channel_nothing_answers(
    make_bot: Callable[..., Bot], fake_slack: FakeSlack, tmp_path: Path
) -> None:
    model = ScriptedModel()
    only_ops = PERSONAS.split("[[persona]]", 2)[2]
    bot = ops_bot(make_bot, tmp_path, model, "[[persona]]" + only_ops)
    bot.mention("hello", channel="C1")
    settle(bot, timeout=20)
    assert model.calls == []
    assert "only" in fake_slack.calls("chat.postMessage")[-1].params["text"]


def test_the_option_is_checked(tmp_path: Path) -> None:
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}
    path = tmp_path / "p.toml"
    for bad in ('only_in_channels = "yes"\nchannels = ["C1"]', "only_in_channels = true"):
        path.write_text(f'[[persona]]\nid = "ops"\nsystem_prompt = "x"\n{bad}\n')
        with pytest.raises(ConfigError, match="only_in_channels"):
            read_personas(load({**env, "PERSONAS_FILE": str(path)}))
