"""A fake Slack Web API server (POST /api/<method>) that records every call."""

from __future__ import annotations

import email.parser
import email.policy
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from ._http import QuietHandler, ServerThread
from .slack_streams import StreamingMessages

Responder = dict[str, Any] | Callable[["Call"], dict[str, Any]]


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    token: str | None
    at: float
    status: int = 200  # HTTP status the fake answered with (non-200 = injected fault)
    headers: dict[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Workspace:
    """A workspace (or, `is_enterprise_install`, an Enterprise Grid org) that installs the
    app through OAuth: `oauth.v2.access` with its code answers for it, and `auth.test` with
    its token names it."""

    team_id: str
    token: str
    bot_user_id: str = "UBOT"
    bot_id: str = "BBOT"
    enterprise_id: str | None = None
    is_enterprise_install: bool = False
    name: str = "Test"
    scope: str = "app_mentions:read,chat:write"


def oauth_v2_access(workspace: Workspace, app_id: str = "A0EXAMPLE") -> dict[str, Any]:
    """oauth.v2.access for a bot-only install, shaped as Slack documents it
    (docs.slack.dev/reference/methods/oauth.v2.access, example response; the same keys as
    slackapi/bolt-python tests/mock_web_api_server/mock_handler.py `OAUTH_V2_ACCESS_RESPONSE`):
    `enterprise` is null outside Enterprise Grid, `team` null for an org-wide install, and
    `authed_user` carries only the installer's id when no user scopes were asked for."""
    org = workspace.is_enterprise_install
    enterprise = workspace.enterprise_id
    return {
        "ok": True,
        "access_token": workspace.token,
        "token_type": "bot",
        "scope": workspace.scope,
        "bot_user_id": workspace.bot_user_id,
        "app_id": app_id,
        "team": None if org else {"name": workspace.name, "id": workspace.team_id},
        "enterprise": {"name": f"{workspace.name} org", "id": enterprise} if enterprise else None,
        "authed_user": {"id": "U0INSTALLER"},
        "is_enterprise_install": org,
    }


@dataclass
class _Fault:
    times: int
    status: int
    retry_after: int


def _parse_multipart(content_type: str, body: bytes) -> dict[str, Any]:
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    out: dict[str, Any] = {}
    for part in msg.iter_parts():  # type: ignore[attr-defined]
        name = part.get_param("name", header="content-disposition")
        if name:
            payload = part.get_payload(decode=True) or b""
            out[name] = payload if part.get_filename() else payload.decode("utf-8", "replace")
    return out


def parse_params(content_type: str, body: bytes, query: str = "") -> dict[str, Any]:
    """Parse Slack API params from a JSON, form-encoded or multipart body (plus query string)."""
    params: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    ctype = content_type.lower()
    if "application/json" in ctype:
        if body.strip():
            params.update(json.loads(body))
    elif "multipart/form-data" in ctype:
        params.update(_parse_multipart(content_type, body))
    elif body:
        params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    return params


class _SlackHandler(QuietHandler):
    def do_POST(self) -> None:
        fake: FakeSlack = self.server.owner
        path, _, query = self.path.partition("?")
        if not path.startswith("/api/"):
            self.send_json(404, {"ok": False, "error": "unknown_path"})
            return
        method = path[len("/api/") :]
        body = self.read_body()
        try:
            params = parse_params(self.headers.get("Content-Type", ""), body, query)
        except (ValueError, UnicodeDecodeError):
            self.send_json(200, {"ok": False, "error": "invalid_form_data"})
            return
        auth = self.headers.get("Authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        token = token or params.get("token")
        call = Call(method, params, token, time.time(), headers=dict(self.headers.items()))
        status, payload, headers = fake._respond(call)
        call.status = status
        fake._record(call)
        self.send_json(status, payload, headers)

    do_GET = do_POST


class FakeSlack:
    """Fake Slack Web API; point `WebClient(base_url=fake.base_url)` at it."""

    def __init__(self) -> None:
        self.socket_url: str | None = None
        self._lock = threading.Lock()
        self._calls: list[Call] = []
        self._faults: dict[str, _Fault] = {}
        self._responses: dict[str, Responder] = {}
        self._ts_counter = 0
        self._messages: dict[str, list[dict[str, Any]]] = {}  # posted by the bot, per channel
        self._codes: dict[str, Workspace] = {}  # OAuth codes oauth.v2.access accepts
        self._workspaces: dict[str, Workspace] = {}  # by bot token
        self._revoked: set[str] = set()
        self.streams = StreamingMessages()
        self._thread = ServerThread(_SlackHandler, self)

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
    def fail_next(
        self, method: str, times: int = 1, status: int = 429, retry_after: int = 1
    ) -> None:
        """Answer the next `times` calls of `method` with `status` (429 carries Retry-After)."""
        with self._lock:
            self._faults[method] = _Fault(times, status, retry_after)

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

    def reset(self) -> None:
        """Forget recorded calls, pending faults and response overrides."""
        with self._lock:
            self._calls.clear()
            self._faults.clear()
            self._responses.clear()
            self._messages.clear()
            self.streams = StreamingMessages()

    # --- inspection --------------------------------------------------------
    def calls(self, method: str | None = None, include_failed: bool = True) -> list[Call]:
        with self._lock:
            return [
                c
                for c in self._calls
                if (method is None or c.method == method) and (include_failed or c.status == 200)
            ]

    def wait_for(
        self,
        method: str,
        predicate: Callable[[Call], bool] = lambda c: True,
        count: int = 1,
        timeout: float = 10.0,
        include_failed: bool = False,
    ) -> list[Call]:
        """Poll until at least `count` calls of `method` match `predicate`; return the matches.

        By default calls answered with an injected fault are ignored.
        """
        deadline = time.monotonic() + timeout
        while True:
            matches = [c for c in self.calls(method, include_failed) if predicate(c)]
            if len(matches) >= count:
                return matches
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {count} x {method} "
                    f"(got {len(matches)}); recorded calls:\n{self.summary()}"
                )
            time.sleep(0.01)

    def summary(self) -> str:
        lines = []
        for c in self.calls():
            shown = {k: v for k, v in c.params.items() if k != "token"}
            lines.append(f"  {c.method} [{c.status}] {json.dumps(shown, default=str)[:300]}")
        return "\n".join(lines) or "  <none>"

    # --- internals ---------------------------------------------------------
    def _record(self, call: Call) -> None:
        with self._lock:
            self._calls.append(call)

    def next_ts(self) -> str:
        """Increasing, and like Slack's, later than any message the bot is answering."""
        with self._lock:
            micros = max(int(time.time() * 1_000_000), self._ts_counter + 1)
            self._ts_counter = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _take_fault(self, method: str) -> _Fault | None:
        with self._lock:
            fault = self._faults.get(method)
            if fault is None:
                return None
            fault.times -= 1
            if fault.times <= 0:
                del self._faults[method]
            return fault

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
        if override is not None:
            return 200, override(call) if callable(override) else dict(override), {}
        return 200, self._default_response(call), {}

    def _read_messages(self, call: Call) -> list[dict[str, Any]]:
        """conversations.replies / .history over what the bot posted (oldest is exclusive)."""
        p = call.params
        oldest = float(p.get("oldest") or 0)
        with self._lock:
            posted = list(self._messages.get(p.get("channel", ""), []))
        if call.method == "conversations.replies":
            posted = [m for m in posted if m.get("thread_ts") == p.get("ts")]
        else:
            posted = [m for m in posted if not m.get("thread_ts")]
        keep_metadata = str(p.get("include_all_metadata", "")).lower() in ("1", "true")
        return [m if keep_metadata else {k: v for k, v in m.items() if k != "metadata"}
                for m in posted if float(m["ts"]) > oldest]

    def _default_response(self, call: Call) -> dict[str, Any]:
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
                    "ok": True, "url": f"https://{workspace.team_id.lower()}.slack.com/",
                    "team": workspace.name, "user": "bot", "team_id": workspace.team_id,
                    "user_id": workspace.bot_user_id, "bot_id": workspace.bot_id,
                    "is_enterprise_install": workspace.is_enterprise_install,
                    **({"enterprise_id": workspace.enterprise_id} if workspace.enterprise_id
                       else {}),
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
            case "chat.postMessage":
                ts = self.next_ts()
                message: dict[str, Any] = {
                    "type": "message",
                    "text": p.get("text", ""),
                    "user": "UBOT",
                    "bot_id": "BBOT",
                    "ts": ts,
                }
                for key in ("thread_ts", "blocks", "metadata"):
                    if key in p:
                        message[key] = p[key]
                if isinstance(message.get("metadata"), str):
                    message["metadata"] = json.loads(message["metadata"])
                with self._lock:
                    self._messages.setdefault(p.get("channel", ""), []).append(message)
                return {"ok": True, "channel": p.get("channel"), "ts": ts, "message": message}
            case "conversations.replies" | "conversations.history":
                return {"ok": True, "messages": self._read_messages(call), "has_more": False}
            case "chat.postEphemeral":
                return {"ok": True, "message_ts": self.next_ts()}
            case "chat.startStream" | "chat.appendStream" | "chat.stopStream" | "chat.update":
                response, message = self.streams.handle(call.method, p, self.next_ts())
                if message is not None:
                    with self._lock:
                        self._messages.setdefault(p.get("channel", ""), []).append(message)
                if call.method == "chat.update" and not response["ok"]:  # a plain post
                    return {"ok": True, "channel": p.get("channel"), "ts": p.get("ts")}
                return response
            case "apps.connections.open":
                if self.socket_url is None:
                    return {"ok": False, "error": "socket_url_not_set"}
                return {"ok": True, "url": self.socket_url}
            case _:
                return {"ok": True}
