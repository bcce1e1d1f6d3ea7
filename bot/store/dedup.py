"""Dedup: the keys that make one Slack message count once, whichever way it arrives.

A retry of the same event carries the same event_id; a thread mention arrives both as
`app_mention` and as `message` with different event_ids but the same channel + ts.
"""

from __future__ import annotations

from bot.jobs import Job

DEDUP_TTL_SECONDS = 3600  # Slack retries for about six minutes; keep a wide margin


def dedup_keys(job: Job, event_id: str | None) -> list[str]:
    """The message's key (team, channel, ts) and, if given, its delivery's (event_id)."""
    keys = [f"msg:{job.team}:{job.channel}:{job.ts}"]
    if event_id:
        keys.append(f"event:{event_id}")
    return keys
