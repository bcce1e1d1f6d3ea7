"""Rate limits of the fake Slack Web API: sliding windows per workspace (token) and method.

Tiers (docs.slack.dev/apis/web-api/rate-limits): Tier 1 1+/min, Tier 2 20+/min, Tier 3
50+/min, Tier 4 100+/min; each method's tier is the `rate_limit` label of its reference page
(mirrored in github.com/smstoslack/slack_kit priv/docs/methods/<method>.json). We allow
exactly the tier's number: Slack "tolerates occasional bursts", but does not promise more.
Over the limit Slack answers HTTP 429 with a `Retry-After` header (seconds) and
`{"ok": false, "error": "ratelimited"}`.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque

TIER_1, TIER_2, TIER_3, TIER_4 = 1, 20, 50, 100

# method -> calls per minute, from each method's reference page.
TIERS: dict[str, int] = {
    "chat.update": TIER_3,  # "Tier 3: 50+ per minute"
    "chat.delete": TIER_3,  # "Tier 3: 50+ per minute"
    "chat.startStream": TIER_2,  # "Tier 2: 20+ per minute"
    "chat.appendStream": TIER_4,  # "Tier 4: 100+ per minute"
    "chat.stopStream": TIER_2,  # "Tier 2: 20+ per minute"
    "chat.postEphemeral": TIER_4,  # "Tier 4: 100+ per minute"
    "assistant.threads.setSuggestedPrompts": TIER_4,  # "Tier 4: 100+ per minute"
    "reactions.add": TIER_3,  # "Tier 3: 50+ per minute"
    "reactions.remove": TIER_2,  # "Tier 2: 20+ per minute"
    "conversations.replies": TIER_3,  # "Tier 3: 50+ per minute" (internal/Marketplace apps)
    "conversations.history": TIER_3,  # "Tier 3: 50+ per minute" (internal/Marketplace apps)
    "users.info": TIER_4,  # "Tier 4: 100+ per minute"
    "files.info": TIER_4,  # "Tier 4: 100+ per minute"
    "views.publish": TIER_4,  # "Tier 4: 100+ per minute"
    "views.open": TIER_4,  # "Tier 4: 100+ per minute" (views.open reference)
}
# "Special rate limits apply" and no number given, so not limited here:
# assistant.threads.setStatus, auth.test, oauth.v2.access, chat.getPermalink ("Special").
# agents.sessions.setStatus / .rename: no tier in the sources we could read, so not limited
# either; the bot calls them best effort (a 429 skips one status, never waits).
# apps.connections.open (Tier 3) is left unlimited as before: socket-mode tests reconnect on
# purpose.

# chat.postMessage is special: "generally allows apps to post one message per second per
# channel, while allowing for short bursts" (rate-limits page, "Posting messages"). We
# model the bursts as at most 10 posts per 10 seconds per channel (our choice of burst).
POST_BURST, POST_WINDOW_MINUTES = 10, 10 / 60

# Commercially distributed apps not on the Slack Marketplace (rate-limits page, changelog
# 2025-05-29): conversations.history and conversations.replies "limited to 1 request per
# minute" and "a maximum `limit` of 15 objects".
NON_MARKETPLACE_READS = frozenset({"conversations.history", "conversations.replies"})
NON_MARKETPLACE_LIMIT = 15


class RateLimits:
    """Sliding-window counters. `minute` is the window's length in seconds (tests compress
    time with e.g. minute=3.0); `non_marketplace` models a commercially distributed app
    that is not on the Marketplace."""

    def __init__(self, minute: float = 60.0, non_marketplace: bool = False) -> None:
        self.minute = minute
        self.non_marketplace = non_marketplace
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, ...], deque[float]] = {}

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()

    def _rule(self, method: str, channel: str) -> tuple[int, float, str] | None:
        """(limit, window in seconds, bucket suffix) or None when not limited."""
        if method == "chat.postMessage":
            return POST_BURST, self.minute * POST_WINDOW_MINUTES, channel
        if self.non_marketplace and method in NON_MARKETPLACE_READS:
            return TIER_1, self.minute, ""
        limit = TIERS.get(method)
        return None if limit is None else (limit, self.minute, "")

    def take(self, token: str | None, method: str, channel: str = "") -> int | None:
        """Count the call, or return the Retry-After seconds (>= 1) when over the limit."""
        rule = self._rule(method, channel)
        if rule is None:
            return None
        limit, window, suffix = rule
        now = time.monotonic()
        with self._lock:
            calls = self._windows.setdefault((token or "", method, suffix), deque())
            while calls and calls[0] <= now - window:
                calls.popleft()
            if len(calls) >= limit:
                return max(1, math.ceil(calls[0] + window - now))
            calls.append(now)
            return None
