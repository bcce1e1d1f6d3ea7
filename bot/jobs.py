"""The unit of work: one Slack message (or reset) bound to one thread session."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

DM_THREAD = "dm"
_UNSAFE = re.compile(r"[^A-Za-z0-9-]")
_TIME = re.compile(r"\d{9,}(\.\d+)?")


def message_time(ts: str) -> float | None:
    """The time in a Slack ts, or in another id (bot.intake.reset's `reset-<time>-<uuid>`)."""
    found = _TIME.search(ts)
    return float(found.group()) if found else None


def session_id(team: str, channel: str, thread_ts: str) -> str:
    """team + channel + thread_ts (ts is unique per channel only), safe as S3 key and file name."""
    parts = [_UNSAFE.sub("-", p) for p in (team or "T", channel, thread_ts)]
    return "_".join(parts)


def reply_thread_of(sid: str) -> str | None:
    """The Slack thread a session's replies go to (None: a DM's top level), or None when
    `sid` is not one `session_id()` made from a Slack ts."""
    parts = sid.split("_")
    if len(parts) != 3 or not re.fullmatch(r"\d+-\d+", parts[2]):
        return None
    return parts[2].replace("-", ".")


JobKind = Literal["turn", "reset", "help", "stop", "note", "resume"]
# "stop" is never queued (request_stop); "note" (another app's post in a joined thread) is
# only asked about, then remembered for the next turn (bot/turns/inputs/thread_notes.py);
# "resume" carries a person's decision on a pending approval (bot/turns/approval_turns.py)


@dataclass(frozen=True)
class Job:
    kind: JobKind
    team: str
    channel: str
    thread_ts: str  # session thread: the root ts, or DM_THREAD for a DM's main conversation
    ts: str  # the Slack message ts (or an id for resets)
    user: str
    text: str = ""
    persona: str | None = None  # explicitly addressed persona id
    reply_in_thread: bool = True
    requested_in: str | None = None  # channel where a reset was requested (for the ephemeral)
    user_team: str = ""  # the author's workspace (streams in channels need it; Slack Connect)
    # Slack files attached to the message: a few fields each (bot.turns.files.slack_files).
    files: tuple[dict[str, Any], ...] = field(default=(), hash=False)
    # Queued again from the durable inbox (bot.store.inbox): it may have been handled already.
    replayed: bool = False
    # Tracing only (bot.obs.telemetry): the accept span's W3C trace context and when it was
    # queued, so the turn, maybe in another process, continues the Slack event's trace.
    trace: dict[str, str] = field(default_factory=dict, hash=False)
    # The installation, with OAuth (bot.slack.clients): its enterprise (Grid) and whether it
    # is org-wide; `team` is then the org. Empty in single-token mode.
    enterprise: str = ""
    org_install: bool = False
    # A reset asked for with the Home tab's Reset button: the Home view is published again
    # once it is done (bot.agent.home).
    from_home: bool = False
    # What the user viewed in Slack as they wrote it (a message in the agent view carries
    # `app_context`): validated entities (bot.turns.inputs.app_context). None: the message
    # carried none (the user's remembered view counts); (): it said "nothing".
    app_context: tuple[str, ...] | None = None
    # A resume job: the approval it decides (bot/store/approvals.py Pending.key), and the ts
    # of the approval request's message, updated to say who decided; `text` is the decision.
    approval: str = ""
    approval_message: str = ""
    # A resume job: who clicked (an approver may decide for the asker, who is `user`: the
    # answer is theirs); empty for an expiry, which nobody decided.
    decided_by: str = ""

    @property
    def decider(self) -> str:
        """Who decided a resume job (a job queued before `decided_by` existed: its user)."""
        return self.decided_by or self.user

    @property
    def session_id(self) -> str:
        return session_id(self.team, self.channel, self.thread_ts)

    @property
    def reply_thread_ts(self) -> str | None:
        return self.thread_ts if self.reply_in_thread and self.thread_ts != DM_THREAD else None

    def dumps(self) -> str:
        """Stable JSON. Fields added later are left out when empty, so such a job serializes
        exactly as before the field existed: the inbox is popped by comparing this string
        with what was queued, and older workers can still load it."""
        data = asdict(self)
        for optional in (
            "files",
            "user_team",
            "replayed",
            "enterprise",
            "org_install",
            "trace",
            "from_home",
            "approval",
            "approval_message",
            "decided_by",
        ):  # added later: omitted when empty
            if not data[optional]:
                del data[optional]
        if data["app_context"] is None:  # added later: omitted when absent (() is kept)
            del data["app_context"]
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def loads(cls, raw: str | bytes) -> Job:
        data = json.loads(raw)
        data["files"] = tuple(dict(f) for f in data.get("files") or ())
        data["trace"] = {str(k): str(v) for k, v in (data.get("trace") or {}).items()}
        if data.get("app_context") is not None:
            data["app_context"] = tuple(str(e) for e in data["app_context"])
        return cls(**data)
