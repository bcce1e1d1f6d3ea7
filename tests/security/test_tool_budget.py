"""Finding 1, in general: every tool a persona has runs within a time and a size budget.

A call past TOOL_TIMEOUT_SECONDS ends with an error result the model reads, and the turn
goes on to answer; a result past TOOL_RESULT_MAX_CHARS is cut and the model is told. Both
through the bot's real turn path (a real Strands Agent driven by the scripted model), for
the bot's own kind of tool (@tool functions) and for a strands_tools-style module."""

from __future__ import annotations

import importlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from strands import Agent, tool

from bot.agent.tool_budget import ToolBudget, ToolLimits
from bot.agent.tools import OWN_TOOLS
from bot.config import settings as config
from bot.config.settings import ConfigError
from tests.fakes.model import ScriptedModel
from tests.fakes.slack_api import FakeSlack
from tests.support.harness import base_env, now_ts
from tests.support.tool_calls import texts, tool_results

CAP = 1000


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set at teardown: lets a tool thread the budget abandoned finish."""
    event = threading.Event()
    yield event
    event.set()


@pytest.fixture
def test_tools(monkeypatch: pytest.MonkeyPatch, release: threading.Event) -> None:
    """Tools a persona can name in PERSONAS_FILE, as it names the bot's own."""

    @tool
    def slow_lookup(query: str) -> str:
        """Look something up (a remote service that never answers in time).

        Args:
            query: what to look up.
        """
        release.wait(60)
        return "found it, too late"

    @tool
    def dump(query: str) -> str:
        """Dump a whole table.

        Args:
            query: which table.
        """
        return "x" * 100_000

    monkeypatch.setitem(OWN_TOOLS, "slow_lookup", slow_lookup)
    monkeypatch.setitem(OWN_TOOLS, "dump", dump)
    monkeypatch.setitem(OWN_TOOLS, "flood", importlib.import_module("tests.security.flood"))


def personas_file(directory: Path, tools: list[str]) -> str:
    path = directory / "personas.toml"
    path.write_text(
        f'[[persona]]\nid = "ops"\nsystem_prompt = "You help."\ntools = {json.dumps(tools)}\n'
    )
    return str(path)


@pytest.mark.usefixtures("test_tools")
def test_a_tool_past_its_time_budget_ends_with_an_error_and_the_turn_answers(
    make_bot, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    model = ScriptedModel(
        [
            {"tool": "slow_lookup", "input": {"query": "status"}},
            {"tool": "calculator", "input": {"expression": "6*7"}},
            "The lookup timed out; 6*7 is 42.",
        ]
    )
    bot = make_bot(
        model,
        PERSONAS_FILE=personas_file(tmp_path, ["slow_lookup", "calculator"]),
        TOOL_TIMEOUT_SECONDS="1",
    )
    bot.mention("status?", ts=now_ts())
    posted = fake_slack.wait_for("chat.postMessage", timeout=20)
    assert posted[0].params["text"].startswith("The lookup timed out; 6*7 is 42.")
    [timed_out] = tool_results(model, 1)
    assert timed_out["status"] == "error"
    assert "tool slow_lookup took longer than 1 s" in texts(timed_out)
    assert texts(tool_results(model, 2)[-1]) == "42"  # the turn went on using tools


@pytest.mark.usefixtures("test_tools")
def test_huge_tool_results_are_cut_and_the_model_is_told(
    make_bot, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    model = ScriptedModel(
        [
            {"tool": "dump", "input": {"query": "users"}},
            {"tool": "flood", "input": {"topic": "all"}},
            "Both were too long.",
        ]
    )
    bot = make_bot(
        model,
        PERSONAS_FILE=personas_file(tmp_path, ["dump", "flood"]),
        TOOL_RESULT_MAX_CHARS=str(CAP),
    )
    bot.mention("dump everything", ts=now_ts())
    posted = fake_slack.wait_for("chat.postMessage", timeout=20)
    assert posted[0].params["text"].startswith("Both were too long.")
    for call in (1, 2):
        result = tool_results(model, call)[-1]
        assert result["status"] == "success"
        sent = json.dumps(result["content"])
        assert len(sent) < CAP + 600, len(sent)  # the cap, the notice, JSON quoting
        assert f"cut to {CAP} characters" in texts(result)
    assert "x" * 500 in texts(tool_results(model, 1)[-1])  # the start is kept
    assert '"rows"' in texts(tool_results(model, 2)[-1])  # the JSON's start, as text


def test_the_budget_settings_are_checked() -> None:
    env = base_env("http://127.0.0.1:1/")
    loaded = config.load(env)
    assert (loaded.tool_timeout_seconds, loaded.tool_result_max_chars) == (30, 20_000)
    with pytest.raises(ConfigError, match="TOOL_TIMEOUT_SECONDS"):
        config.load({**env, "TOOL_TIMEOUT_SECONDS": "soon"})
    with pytest.raises(ConfigError, match="TOOL_RESULT_MAX_CHARS"):
        config.load({**env, "TOOL_RESULT_MAX_CHARS": "10"})


def test_binary_blocks_count_by_size_and_the_rest_is_kept_in_order() -> None:
    """A real Strands Agent with the budget: an image past the cap is dropped (binary cannot
    be cut), the text before it kept, and the model told."""

    @tool
    def screenshot(page: str) -> dict[str, Any]:
        """Take a screenshot.

        Args:
            page: which page.
        """
        png = b"\x89PNG\r\n\x1a\n" + b"\0" * 5000
        return {
            "status": "success",
            "content": [
                {"text": "caption"},
                {"image": {"format": "png", "source": {"bytes": png}}},
            ],
        }

    model = ScriptedModel([{"tool": "screenshot", "input": {"page": "home"}}, "Seen."])
    agent = Agent(
        model=model,
        tools=[screenshot],
        callback_handler=None,
        plugins=[ToolBudget(ToolLimits(timeout_seconds=30, max_result_chars=CAP))],
    )
    assert str(agent("look")).strip() == "Seen."
    [result] = tool_results(model, 1)
    assert [list(block) for block in result["content"]] == [["text"], ["text"]]
    assert result["content"][0]["text"] == "caption"
    assert f"cut to {CAP} characters of 5015"  # caption + PNG bytes in result["content"][1]["text"]
