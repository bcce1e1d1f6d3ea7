"""The unit of work: one Slack message (or reset) bound to one thread session."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

DM_THREAD = "dm"
_UNSAFE = re.compile(r"[^A-Za-z0-9-]")


def session_id(team: str, channel: str, thread_ts: str) -> str:
    """team + channel + thread_ts (ts is unique per channel only), safe as S3 key and file name."""
    parts = [_UNSAFE.sub("-", p) for p in (team or "T", channel, thread_ts)]
    return "_".join(parts)


@dataclass(frozen=True)
class Job:
    kind: str  # "turn" or "reset"
    team: str
    channel: str
    thread_ts: str  # session thread: the root ts, or DM_THREAD for a DM's main conversation
    ts: str  # the Slack message ts (or an id for resets)
    user: str
    text: str = ""
    persona: str | None = None  # explicitly addressed persona id
    reply_in_thread: bool = True
    requested_in: str | None = None  # channel where a reset was requested (for the ephemeral)
    # Slack files attached to the message: a few fields each (bot.files.slack_files).
    files: tuple[dict[str, Any], ...] = field(default=(), hash=False)

    @property
    def session_id(self) -> str:
        return session_id(self.team, self.channel, self.thread_ts)

    @property
    def reply_thread_ts(self) -> str | None:
        return self.thread_ts if self.reply_in_thread and self.thread_ts != DM_THREAD else None

    def dumps(self) -> str:
        """Stable JSON. `files` is left out when empty, so a job without files serializes
        exactly as before the field existed: the inbox is popped by comparing this string
        with what was queued, and older workers can still load it."""
        data = asdict(self)
        if not data["files"]:
            del data["files"]
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def loads(cls, raw: str | bytes) -> Job:
        data = json.loads(raw)
        data["files"] = tuple(dict(f) for f in data.get("files") or ())
        return cls(**data)
