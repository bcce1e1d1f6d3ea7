"""A fake Slack Web API server (POST /api/<method>) that records every call."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from ._http import ServerThread
from .slack_agents import AgentSessions
from .slack_http import Call, CallLog, Fault, SlackHandler, Workspace, oauth_v2_access
from .slack_messages import MessageStore
from .slack_modals import BadTrigger, Modals
from .slack_ratelimits import NON_MARKETPLACE_LIMIT, NON_MARKETPLACE_READS, RateLimits
from .slack_rules import Refused, check_assistant, check_message, require
from .slack_streams import STREAM_LIFETIME, StreamingMessages
from .slack_view import MessageView, is_stale, view
from .slack_views import VIEW_METHODS, HomeViews

__all__ = ["Call", "FakeSlack", "Workspace", "oauth_v2_access"]

Responder = dict[str, Any] | Callable[[Call], dict[str, Any]]

# Every method the fake answers; others are `unknown_method`, as Slack answers them.
KNOWN_METHODS = frozenset(
    {
        "auth.test",
        "oauth.v2.access",
        "apps.connections.open",
        "chat.postMessage",
        "chat.update",
        "chat.delete",
        "chat.startStream",
        "chat.appendStream",
        "chat.stopStream",
        "chat.postEphemeral",
        "assistant.threads.setStatus",
        "assistant.threads.setSuggestedPrompts",
        "agents.sessions.setStatus",
        "agents.sessions.rename",
        "reactions.add",
        "reactions.remove",
        "conversations.replies",
        "conversations.history",
        "users.info",
        "files.info",
        *VIEW_METHODS,  # views.publish, chat.getPermalink (slack_views.py)
        "views.open",  # slack_modals.py
    }
)
STREAM_METHODS = ("chat.startStream", "chat.appendStream", "chat.stopStream")


class FakeSlack(CallLog):
    """Fake Slack Web API; point `WebClient(base_url=fake.base_url)` at it.

    As strict as Slack's documentation (tests/fakes/slack_rules.py, slack_streams.py,
    slack_messages.py), rate limited per workspace and method (slack_ratelimits.py) in
    windows of `minute` seconds unless `rate_limits=False` (only for tests that burst on
    purpose about something else); `non_marketplace` models a commercially distributed app
    outside the Marketplace. Streams end `stream_lifetime` seconds after they start.
    """

    def __init__(
        self,
        *,
        minute: float = 60.0,
        rate_limits: bool = True,
        stream_lifetime: float = STREAM_LIFETIME,
        non_marketplace: bool = False,
    ) -> None:
        self.socket_url: str | None = None
        self.rate_limits = rate_limits
        self._lock = threading.Lock()
        self._calls: list[Call] = []
        self._faults: dict[str, Fault] = {}
        self._responses: dict[str, Responder] = {}
        self._ts_counter = 0
        self._codes: dict[str, Workspace] = {}  # OAuth codes oauth.v2.access accepts
        self._workspaces: dict[str, Workspace] = {}  # by bot token
        self._revoked: set[str] = set()
        self._limits = RateLimits(minute, non_marketplace)
        self.messages = MessageStore()  # everything posted, per channel
        self.streams = StreamingMessages(self.messages, stream_lifetime)
        self.agent_sessions = AgentSessions(self.streams)
        self.views = HomeViews(self.messages)  # each user's Home view: views.published(user)
        self.modals = Modals()  # triggers for interactions, and the modals opened with them
        self._thread = ServerThread(SlackHandler, self)

    # --- lifecycle ---------------------------------------------------------
    @property
    def port(self) -> int:
        return self._thread.port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def start(self) -> FakeSlack:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._thread.stop()

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- configuration -----------------------------------------------------
    @property
    def minute(self) -> float:
        return self._limits.minute

    @property
    def stream_lifetime(self) -> float:
        return self.streams.lifetime

    @stream_lifetime.setter
    def stream_lifetime(self, seconds: float) -> None:
        self.streams.lifetime = seconds

    def set_response(self, method: str, response: Responder) -> None:
        """Override the answer for `method`: a dict, or a callable(Call) -> dict."""
        with self._lock:
            self._responses[method] = response

    def add_install(self, code: str, workspace: Workspace) -> None:
        """oauth.v2.access with `code` installs the app in `workspace` (once)."""
        with self._lock:
            self._codes[code] = workspace
            self._workspaces[workspace.token] = workspace

    def revoke(self, token: str) -> None:
        """Every later call with `token` fails as Slack fails it: `token_revoked`."""
        with self._lock:
            self._revoked.add(token)

    def add_message(
        self,
        channel: str,
        text: str,
        thread_ts: str | None = None,
        user: str = "U1",
        bot_id: str | None = None,
    ) -> str:
        """A message someone else (a user, or another app's `bot_id`) posted; its ts."""
        ts = self.next_ts()
        message = {
            "type": "message",
            "ts": ts,
            "text": text,
            "user": user,
            "channel": channel,
            "external": True,  # not this app's: not in bot_messages()
            **({"thread_ts": thread_ts} if thread_ts else {}),
            **({"bot_id": bot_id} if bot_id else {}),
        }
        self.messages.add(message)
        return ts

    def reset(self) -> None:
        """Forget recorded calls, pending faults, response overrides, messages and limits."""
        with self._lock:
            self._calls.clear()
            self._faults.clear()
            self._responses.clear()
            self._limits.reset()
            self.messages = MessageStore()
            self.streams = StreamingMessages(self.messages, self.streams.lifetime)
            self.agent_sessions = AgentSessions(self.streams)
            self.views = HomeViews(self.messages)

    # --- a user's view -----------------------------------------------------
    def bot_messages(
        self,
        channel: str | None = None,
        thread_ts: str | None = None,
        include_deleted: bool = False,
    ) -> list[MessageView]:
        """The bot's (any app's) messages as a user sees them, oldest first; in a thread:
        its replies and, if the bot posted it, its parent."""
        self.streams.refresh()
        return [
            view(m)
            for m in self.messages.everything()
            if m.get("bot_id")
            and not m.get("external")
            and (include_deleted or not m.get("deleted"))
            and channel in (None, m["channel"])
            and thread_ts in (None, m.get("thread_ts"), m["ts"])
        ]

    def stale_messages(
        self, channel: str | None = None, thread_ts: str | None = None
    ) -> list[MessageView]:
        """Bot messages a user would see as broken: still streaming, a Stop button left,
        or empty."""
        return [m for m in self.bot_messages(channel, thread_ts) if is_stale(m)]

    def thread_text(self, channel: str, thread_ts: str) -> str:
        """The visible texts of the bot's messages in the thread, in order, one per line."""
        return "\n".join(m.text for m in self.bot_messages(channel, thread_ts))

    # --- internals ---------------------------------------------------------
    def next_ts(self) -> str:
        """Increasing, and like Slack's, later than any message the bot is answering."""
        with self._lock:
            micros = max(int(time.time() * 1_000_000), self._ts_counter + 1)
            self._ts_counter = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _respond(self, call: Call) -> tuple[int, dict[str, Any], dict[str, str]]:
        fault = self._take_fault(call.method)
        if fault is not None:
            if fault.status == 429:
                headers = {"Retry-After": str(fault.retry_after)}
                return 429, {"ok": False, "error": "ratelimited"}, headers
            return fault.status, {"ok": False, "error": "fatal_error"}, {}
        with self._lock:
            override = self._responses.get(call.method)
            revoked = call.token in self._revoked
        if revoked:
            return 200, {"ok": False, "error": "token_revoked"}, {}
        self.streams.refresh()  # streams past their lifetime end before anything else
        if self.rate_limits:
            channel = str(call.params.get("channel") or "")
            retry_after = self._limits.take(call.token, call.method, channel)
            if retry_after is not None:
                headers = {"Retry-After": str(retry_after)}
                return 429, {"ok": False, "error": "ratelimited"}, headers
        if override is not None:
            return 200, override(call) if callable(override) else dict(override), {}
        try:
            return 200, self._default_response(call), {}
        except Refused as refused:
            answer: dict[str, Any] = {"ok": False, "error": refused.error}
            if isinstance(refused, BadTrigger):
                answer["response_metadata"] = {"messages": refused.messages}
            return 200, answer, {}

    def _owner(self, token: str | None) -> dict[str, str]:
        with self._lock:
            workspace = self._workspaces.get(token or "")
        if workspace is None:
            return {"user": "UBOT", "bot_id": "BBOT"}
        return {"user": workspace.bot_user_id, "bot_id": workspace.bot_id}

    def _default_response(self, call: Call) -> dict[str, Any]:
        p, method = call.params, call.method
        if method not in KNOWN_METHODS:
            return {"ok": False, "error": "unknown_method"}
        owner = self._owner(call.token)
        if method == "chat.postMessage":
            return self.messages.post(p, self.next_ts(), owner)
        if method == "chat.update":
            return self.messages.update(p, owner)
        if method == "chat.delete":
            return self.messages.delete(p, owner)
        if method in STREAM_METHODS:
            return self.streams.handle(method, p, self.next_ts(), owner)
        if method in ("reactions.add", "reactions.remove"):
            return self.messages.react(method, p, owner)
        if method in NON_MARKETPLACE_READS:
            cap = NON_MARKETPLACE_LIMIT if self._limits.non_marketplace else None
            return self.messages.read(method, p, cap)
        if method == "chat.postEphemeral":
            require(p, "channel_not_found", "channel")
            require(p, "user_not_in_channel", "user")  # `user` is required
            check_message(method, p)
            return {"ok": True, "message_ts": self.next_ts()}
        if method.startswith("agents.sessions."):
            return self.agent_sessions.handle(method, p)
        if method in VIEW_METHODS:
            return self.views.handle(method, p)
        if method == "views.open":
            return self.modals.open(p)
        if method.startswith("assistant.threads."):
            return check_assistant(method, p)
        if method == "files.info":
            require(p, "file_not_found", "file")  # "Value passed for `file` was invalid"
        return self._session_response(call)

    def _session_response(self, call: Call) -> dict[str, Any]:
        """auth.test, oauth.v2.access, apps.connections.open (and the rest: ok)."""
        p = call.params
        with self._lock:
            workspace = self._workspaces.get(call.token or "")
        match call.method:
            case "oauth.v2.access":
                with self._lock:
                    installed = self._codes.pop(str(p.get("code")), None)
                if installed is None:
                    return {"ok": False, "error": "invalid_code"}
                return oauth_v2_access(installed)
            case "auth.test" if workspace is not None:
                return {
                    "ok": True,
                    "url": f"https://{workspace.team_id.lower()}.slack.com/",
                    "team": workspace.name,
                    "user": "bot",
                    "team_id": workspace.team_id,
                    "user_id": workspace.bot_user_id,
                    "bot_id": workspace.bot_id,
                    "is_enterprise_install": workspace.is_enterprise_install,
                    **(
                        {"enterprise_id": workspace.enterprise_id}
                        if workspace.enterprise_id
                        else {}
                    ),
                }
            case "auth.test":
                return {
                    "ok": True,
                    "user_id": "UBOT",
                    "bot_id": "BBOT",
                    "team_id": "T1",
                    "team": "Test",
                    "user": "bot",
                    "url": "https://test.slack.com/",
                }
            case "apps.connections.open":
                if self.socket_url is None:
                    return {"ok": False, "error": "socket_url_not_set"}
                return {"ok": True, "url": self.socket_url}
            case _:
                return {"ok": True}
