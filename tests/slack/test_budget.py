"""The Slack rate budget: a burst of answers in one workspace spends Slack's limits on purpose
(fewer streams, then posts) instead of collecting 429s, and every answer is delivered."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from bot.slack import budget as slack_budget
from bot.slack.budget import PER_MINUTE, WINDOWS_PER_MINUTE, SlackBudget
from bot.store.memory_state import MemoryState
from tests.fakes.model import ScriptedModel
from tests.fakes.slack_api import FakeSlack
from tests.support.harness import Bot, base_env

MINUTE = 6.0  # Slack's minute, compressed alike in the fake and in the bot


def test_the_budget_allows_a_tier_share_per_window_and_per_workspace() -> None:
    budget = SlackBudget(MemoryState())
    share = PER_MINUTE["chat.startStream"] // WINDOWS_PER_MINUTE
    allowed = [budget.allow("T1", "chat.startStream") for _ in range(share + 3)]
    assert allowed == [True] * share + [False] * 3
    assert budget.allow("T2", "chat.startStream")  # another workspace has its own
    assert budget.allow("T1", "chat.appendStream")  # another method too


def test_the_budget_fails_open_when_the_state_store_cannot_count() -> None:
    class Down(MemoryState):
        def spend(self, key: str, limit: int, window: float) -> bool:
            raise ConnectionError("redis is down")

    assert SlackBudget(Down()).allow("T1", "chat.startStream")


def test_a_burst_of_answers_in_one_workspace_degrades_instead_of_collecting_429s(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(slack_budget, "MINUTE_SECONDS", MINUTE)
    answer = "An answer that streams for a while. " * 12
    model = ScriptedModel([answer] * 40, token_chars=12, token_delay=0.01)
    with FakeSlack(minute=MINUTE) as slack:
        env = base_env(
            slack.base_url,
            SESSION_DIR=str(tmp_path),
            REDIS_URL=redis_url,
            STREAMING="on",
            LOG_LEVEL="WARNING",
        )
        with Bot(env, model) as bot:
            roots = [
                bot.mention(f"question {i}", channel=f"C{i % 10}") for i in range(40)
            ]  # 40 questions in a couple of seconds
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and len(answered(slack, roots)) < len(roots):
                time.sleep(0.2)
            assert len(answered(slack, roots)) == len(roots), slack.summary()[-3000:]
        limited = Counter(c.method for c in slack.calls() if c.status == 429)
        streamed = len(slack.calls("chat.startStream"))
        print(f"\n40 answers: {streamed} streamed, {40 - streamed} posted; 429s: {limited}")
        assert slack.stale_messages() == []
        assert 0 < streamed < 40  # the budget streamed some, posted the rest
        for method in ("chat.startStream", "chat.appendStream", "chat.stopStream"):
            assert limited[method] == 0, limited
        assert sum(limited.values()) <= 3, limited  # no storm


def answered(slack: FakeSlack, roots: list[dict]) -> list[str]:
    """The roots whose thread shows a final answer with 👍/👎."""
    return [
        root["ts"]
        for root in roots
        if any(
            message.has_feedback and not message.streaming and not message.has_stop
            for message in slack.bot_messages(root["channel"], root["ts"])
        )
    ]
