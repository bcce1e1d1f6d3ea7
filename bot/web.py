"""HTTP mode: a WSGI app serving Slack at POST /slack/events and GET /healthz.

Run it under gunicorn (see Procfile); `create_app()` is the factory each worker calls.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot.main import start_runtime

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 1_000_000  # Slack payloads are far smaller; refuse anything bigger
StartResponse = Callable[..., Any]


def _respond(start_response: StartResponse, status: str, payload: dict) -> list[bytes]:
    body = json.dumps(payload).encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(body)))])
    return [body]


class WebApp:
    def __init__(self, slack: SlackRequestHandler, health: Callable[[], dict[str, str]]) -> None:
        self.slack = slack
        self.health = health

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        if path == "/healthz" and method in ("GET", "HEAD"):
            checks = self.health()
            ok = all(value == "ok" for value in checks.values())
            status = "200 OK" if ok else "503 Service Unavailable"
            return _respond(start_response, status, {"ok": ok, "checks": checks})
        if path != "/slack/events":
            return _respond(start_response, "404 Not Found", {"error": "not found"})
        if method != "POST":
            return _respond(start_response, "405 Method Not Allowed", {"error": "POST only"})
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _respond(start_response, "400 Bad Request", {"error": "bad Content-Length"})
        if length > MAX_BODY_BYTES:
            return _respond(start_response, "413 Payload Too Large", {"error": "body too large"})
        return self.slack(environ, start_response)


def create_app() -> WebApp:
    runtime, app = start_runtime(socket_mode=False)
    return WebApp(SlackRequestHandler(app), runtime.health)
