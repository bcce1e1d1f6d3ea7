"""Dedup: the keys that make one Slack message count once, whichever way it arrives.

A retry of the same event carries the same event_id; a thread mention arrives both as
`app_mention` and as `message` with different event_ids but the same channel + ts.
"""

from __future__ import annotations

from bot.jobs import Job

DEDUP_TTL_SECONDS = 3600  # Slack retries for about six minutes; keep a wide margin
LAST_SLACK_RETRY = 3  # Slack retries an event up to 3 times


def retry_num(headers: dict[str, list[str]]) -> int:
    """Slack's X-Slack-Retry-Num (Bolt normalizes header names to lower case)."""
    value = (headers.get("x-slack-retry-num") or ["0"])[0]
    return int(value) if str(value).isdigit() else 0


def dedup_keys(job: Job, event_id: str | None) -> list[str]:
    keys = [f"msg:{job.team}:{job.channel}:{job.ts}"]
    if event_id:
        keys.append(f"event:{event_id}")
    return keys
