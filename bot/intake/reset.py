"""Reset: find which thread a /reset (or shortcut) means, and build its reset job.

Slash commands cannot run inside threads and never carry thread_ts, so /reset takes a
thread link or ts, or falls back to the user's most recent bot thread in the channel.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qs, urlparse

from bot.jobs import DM_THREAD, Job
from bot.store.state import Facts

USAGE = (
    "Usage: `/reset <thread link or ts>` in the thread's channel, or plain `/reset` for your "
    "most recent thread with me here. In a thread you can also use the message shortcut "
    "*Reset conversation* or write `@bot reset`."
)
_TS = re.compile(r"^\d{9,11}\.\d{1,6}$")
_LINK_PATH = re.compile(r"^/archives/([A-Z0-9]+)/p(\d{10})(\d{6})$")


@dataclass(frozen=True)
class Refusal:
    text: str


def parse_target(argument: str) -> tuple[str | None, str] | Refusal:
    """'<link>' -> (channel, thread_ts); '1700000000.000100' -> (None, ts)."""
    argument = argument.strip().strip("<>").split("|")[0]
    if _TS.match(argument):
        return None, argument
    url = urlparse(argument)
    match = _LINK_PATH.match(url.path) if url.scheme in ("http", "https") else None
    if not match or not (url.hostname or "").endswith("slack.com"):
        return Refusal(f"I can't read `{argument[:80]}` as a thread link or ts. {USAGE}")
    channel, seconds, micros = match.groups()
    thread_ts = parse_qs(url.query).get("thread_ts", [f"{seconds}.{micros}"])[0]
    if not _TS.match(thread_ts):
        return Refusal(f"The link's thread_ts `{thread_ts[:40]}` is not a Slack ts. {USAGE}")
    return channel, thread_ts


def reset_job(team: str, channel: str, thread_ts: str, user: str, requested_in: str) -> Job:
    return Job(
        kind="reset",
        team=team,
        channel=channel,
        thread_ts=thread_ts,
        ts=f"reset-{time.time():.6f}-{uuid.uuid4().hex}",
        user=user,
        requested_in=requested_in,
        reply_in_thread=thread_ts != DM_THREAD,
    )


def from_command(
    state: Facts, team: str, channel: str, user: str, text: str, is_dm: bool
) -> Job | Refusal:
    if not text.strip():
        if is_dm:
            return reset_job(team, channel, DM_THREAD, user, channel)
        recent = state.recent_thread(team, channel, user)
        if recent is None:
            return Refusal(f"I couldn't find a thread of yours with me in this channel. {USAGE}")
        return reset_job(team, channel, recent, user, channel)
    target = parse_target(text)
    if isinstance(target, Refusal):
        return target
    target_channel, thread_ts = target
    if target_channel and target_channel != channel:
        return Refusal(
            f"That thread is in <#{target_channel}>, not here. Run /reset in that channel — "
            "I only reset threads of the channel you're in."
        )
    return reset_job(team, channel, thread_ts, user, channel)
