"""Slack budget: spend a workspace's Web API rate limits on purpose, not by collecting 429s.

Slack limits each method per workspace by tier (docs.slack.dev/apis/web-api/rate-limits):
`chat.startStream` and `chat.stopStream` are Tier 2 (about 20 a minute), `chat.appendStream`
Tier 4 (about 100), `chat.update` Tier 3 (about 50). Every process shares one count per
workspace and method in the state store (`Facts.spend`, a fixed window). What is optional
asks first: an answer streams only while the workspace has stream starts to spare (else it
is posted whole when done), and a stream appends only while appends are left (else its
text waits for the next flush). What is not optional (the final message) is never held
back; slack_sdk's RateLimitErrorRetryHandler honours Retry-After for those.

The budget fails open: if the state store cannot count, Slack's own 429s still protect.
"""

from __future__ import annotations

import logging
from typing import Literal

from bot.store.facts import BUDGET
from bot.store.state import Facts

log = logging.getLogger(__name__)
Method = Literal[
    "chat.startStream", "chat.appendStream", "conversations.history", "conversations.replies"
]
# Per minute, below each tier's documented rate: Slack's windows are not ours, and the
# bot's other calls (status, reactions, posts) share the workspace.
# The reads of what a user views (bot/turns/inputs/viewing.py): Tier 3 (50+) for internal and
# Marketplace apps, but 1 a minute for commercially distributed non-Marketplace apps; one
# a window (3 a minute) is optional context, and a 429 quiets the token (ThreadReader).
PER_MINUTE: dict[Method, int] = {
    "chat.startStream": 16,
    "chat.appendStream": 80,
    "conversations.history": 3,
    "conversations.replies": 3,
}
# Counted in BUDGET.ttl (20 s) windows: a burst spends a third, not all of it.
WINDOWS_PER_MINUTE = round(60.0 / BUDGET.ttl)
MINUTE_SECONDS = 60.0  # Slack's minute (tests compress it, with the fake's)


class SlackBudget:
    def __init__(self, state: Facts) -> None:
        self.state = state
        self.window = MINUTE_SECONDS / WINDOWS_PER_MINUTE

    def allow(self, team: str, method: Method) -> bool:
        """Count one call of `method` in `team`; False when the workspace has none to spare."""
        limit = max(1, PER_MINUTE[method] // WINDOWS_PER_MINUTE)
        try:
            return self.state.spend(BUDGET.key(team, method), limit, self.window)
        except Exception as exc:  # the state store is down: let Slack's limits speak
            log.debug("rate budget unavailable (%s): allowing %s", exc, method)
            return True


__all__ = ["PER_MINUTE", "SlackBudget"]
