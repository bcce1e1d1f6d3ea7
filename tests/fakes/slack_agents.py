"""The fake Web API's agent sessions: agents.sessions.setStatus / .rename and Slack's own
stop button, as Slack documents them.

Sources: docs.slack.dev/ai/agent-sessions (a thread-scoped session with a status of
`processing`, `active`, `suspended` or `closed`, a title, a native stop button while
`processing`); the reference pages docs.slack.dev/reference/methods/agents.sessions.setStatus
and .rename (slack_sdk 3.48 `agents_sessions_setStatus(channel_id, status, thread_ts, title,
initiator_user_id, …)` / `agents_sessions_rename(channel_id, title, thread_ts)`), and
docs.slack.dev/reference/events/agent_session_stopped. Where a rule's error name is not
documented the comment says "our name".
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from .slack_rules import Refused, is_given, require
from .slack_streams import StreamingMessages

STATUSES = ("processing", "active", "suspended", "closed")
TITLE_MAX = 200  # setStatus `title`: "at most 200 characters" (applies on creation)
# setStatus's warning while the app does not subscribe to agent_session_stopped: the user then
# sees the loading indicator without a stop control (agent-sessions guide; the warning code is
# the one Slack returns in `response_metadata.warnings`).
MISSING_STOP_SUBSCRIPTION = "missing_agent_session_stopped_event_subscription"


@dataclass
class Session:
    channel: str
    thread_ts: str
    title: str
    initiator: str
    statuses: list[str] = field(default_factory=list)  # every status set, in order

    @property
    def status(self) -> str:
        return self.statuses[-1]


class AgentSessions:
    """The workspace's agent sessions, by (channel, thread_ts)."""

    def __init__(self, streams: StreamingMessages) -> None:
        self.streams = streams
        self.sessions: dict[tuple[str, str], Session] = {}
        self.refusal: str | None = None  # every call answers this error while set
        self.stop_subscribed = True  # the manifest subscribes agent_session_stopped
        self._lock = threading.Lock()

    def refuse(self, error: str | None) -> None:
        """Answer every agents.sessions call with `error`, as Slack does for an app not
        declared an agent (`not_agent_app`), a missing scope (`missing_scope`), …"""
        self.refusal = error

    def handle(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if self.refusal:
            raise Refused(self.refusal)
        require(params, "channel_not_found", "channel_id")
        require(params, "invalid_thread_ts", "thread_ts")  # a session is a thread (our name)
        title = str(params.get("title") or "")
        if len(title) > TITLE_MAX:
            raise Refused("invalid_arguments")  # documented limit; our name
        key = (str(params["channel_id"]), str(params["thread_ts"]))
        with self._lock:
            if method == "agents.sessions.rename":
                return self._rename(key, params)
            return self._set_status(key, params, title)

    def _set_status(
        self, key: tuple[str, str], params: dict[str, Any], title: str
    ) -> dict[str, Any]:
        status = params.get("status")
        if status not in STATUSES:
            raise Refused("invalid_arguments")  # only the four statuses exist (our name)
        session = self.sessions.get(key)
        if session is None:  # "creating the session if needed": title and initiator apply now
            session = self.sessions[key] = Session(
                *key, title, str(params.get("initiator_user_id") or "")
            )
        session.statuses.append(str(status))
        answer: dict[str, Any] = {
            "ok": True,
            "status": session.status,
            "agent_status": session.status,
            "title": session.title,
        }
        if not self.stop_subscribed:
            answer["warning"] = MISSING_STOP_SUBSCRIPTION
            answer["response_metadata"] = {"warnings": [MISSING_STOP_SUBSCRIPTION]}
        return answer

    def _rename(self, key: tuple[str, str], params: dict[str, Any]) -> dict[str, Any]:
        if not is_given(params, "title"):
            raise Refused("invalid_arguments")  # `title` is required
        session = self.sessions.get(key)
        if session is None:  # renaming a thread that is no session yet
            raise Refused("not_authorized")
        session.title = str(params["title"])
        return {"ok": True, "title": session.title}

    # --- what a user sees and does ---------------------------------------------------------
    def statuses(self, channel: str, thread_ts: str) -> list[str]:
        """Every status the thread's session was given, in order ([] if none)."""
        with self._lock:
            session = self.sessions.get((channel, thread_ts))
            return list(session.statuses) if session else []

    def session(self, channel: str, thread_ts: str) -> Session | None:
        with self._lock:
            return self.sessions.get((channel, thread_ts))

    def press_stop(self, channel: str, thread_ts: str) -> list[str]:
        """A user presses Slack's own stop on the thread's session. Slack shows it only while
        the session is `processing` (and only to an app subscribed to agent_session_stopped);
        it stops the thread's streaming messages itself, but leaves the status alone: the app
        must move the session out of `processing`. Returns the streams' ts that it stopped,
        for the `agent_session_stopped` event the test then delivers."""
        with self._lock:
            session = self.sessions.get((channel, thread_ts))
            if session is None or session.status != "processing" or not self.stop_subscribed:
                raise AssertionError(f"no stop button: session {session} is not processing")
        return self.streams.stop_thread(channel, thread_ts)
