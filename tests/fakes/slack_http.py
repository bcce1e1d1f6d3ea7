"""The fake Slack Web API's wire side: recorded calls, parsing a request's parameters
(JSON, form or multipart body, plus the query string), the request handler, and the
workspaces OAuth installs."""

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

from ._http import QuietHandler


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
class Fault:
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


class SlackHandler(QuietHandler):
    def do_POST(self) -> None:
        fake: Any = self.server.owner  # the FakeSlack
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


class CallLog:
    """The recorded calls of a fake Web API, and the faults it injects (needs `_lock`,
    `_calls`, `_faults`)."""

    _lock: threading.Lock
    _calls: list[Call]
    _faults: dict[str, Fault]

    def fail_next(
        self, method: str, times: int = 1, status: int = 429, retry_after: int = 1
    ) -> None:
        """Answer the next `times` calls of `method` with `status` (429 carries Retry-After)."""
        with self._lock:
            self._faults[method] = Fault(times, status, retry_after)

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

    def _record(self, call: Call) -> None:
        with self._lock:
            self._calls.append(call)

    def _take_fault(self, method: str) -> Fault | None:
        with self._lock:
            fault = self._faults.get(method)
            if fault is None:
                return None
            fault.times -= 1
            if fault.times <= 0:
                del self._faults[method]
            return fault
