"""Progress (bot/answer/progress.py): the status line and reactions are best effort. A rate
limit on them is skipped at once, never waited out inside a turn (reactions.remove allows
20 calls a minute: Slack's Retry-After there can hold a turn for a minute per retry)."""

from __future__ import annotations

import time

from bot.answer.progress import WAITING_REACTION, Progress
from bot.jobs import Job
from bot.store.memory_state import MemoryState
from tests.fakes.slack_api import FakeSlack
from tests.support.conversation import replier

RETRY_AFTER = 30  # seconds Slack asks to wait; waiting it out would fail the timing below


def test_a_rate_limited_reaction_is_skipped_not_waited_for(fake_slack: FakeSlack) -> None:
    state = MemoryState()
    progress = Progress(replier(fake_slack).clients, state)
    root = fake_slack.add_message("C1", "first")
    running = Job("turn", "T1", "C1", root, root, "U1", text="first")
    queued = Job("turn", "T1", "C1", root, fake_slack.add_message("C1", "more", root), "U1")
    shown = progress.started([running], {})
    progress.waiting(queued)  # queued behind the running turn: the hourglass
    assert [c.params["name"] for c in fake_slack.calls("reactions.add")] == [WAITING_REACTION]

    fake_slack.fail_next("reactions.remove", times=3, retry_after=RETRY_AFTER)
    fake_slack.fail_next("assistant.threads.setStatus", times=3, retry_after=RETRY_AFTER)
    began = time.monotonic()
    progress.finished([running], shown, failed=True)
    progress.started([queued], {})  # the queued message's turn takes the hourglass off
    assert time.monotonic() - began < 5, "a progress call waited out Slack's Retry-After"
    assert len(fake_slack.calls("reactions.remove")) == 1  # tried once (a 429), not retried
