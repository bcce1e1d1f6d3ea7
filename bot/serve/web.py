"""HTTP mode: the WSGI app each gunicorn worker serves (see Procfile; `create_app()` is the
factory each worker calls).

Slack's requests go through Bolt's own WSGI adapter (`slack_bolt.adapter.wsgi`): POST
/slack/events, and with OAuth GET /slack/install and GET /slack/oauth_redirect; it answers
404 for any other path. This module adds only what that adapter cannot do:

- a size limit before reading: the adapter reads whatever Content-Length says, so a body
  over MAX_BODY_BYTES is refused (413) unread (the gunicorn worker refuses it first:
  bot/serve/http_worker.py; this covers any other server);
- the signature check before any parsing: the adapter parses the body (JSON, forms,
  nested `payload`) before Bolt's own check runs, so an unsigned or stale request (401;
  a body that is not UTF-8 too: Slack sends nothing else) never reaches a parser;
- a 400, not a 500, for a signed body that is not a Slack payload (bot/slack/payloads.py);
- the endpoints that are not Slack's: GET /healthz (liveness), GET /readyz (readiness:
  Redis and the session storage answer) and GET /metrics (Prometheus, with METRICS_TOKEN:
  bot/obs/metrics_endpoint.py); and a 405 for a GET of /slack/events.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.response import BoltResponse
from slack_sdk.signature import SignatureVerifier

from bot.config.settings import BOOT_ERROR_EXIT
from bot.obs import metrics_endpoint
from bot.serve.http_limits import MAX_BODY_BYTES
from bot.serve.main import start_runtime
from bot.slack import payloads

log = logging.getLogger(__name__)
StartResponse = Callable[..., Any]
EVENTS_PATH = "/slack/events"


def _respond(start_response: StartResponse, status: str, payload: dict) -> list[bytes]:
    body = json.dumps(payload).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


class SlackHandler(SlackRequestHandler):
    """Bolt's WSGI adapter, parsing the body with bot/slack/payloads.py: a signed body that
    is not a Slack payload gets a 400 (the adapter's own parse would raise: a 500)."""

    def dispatch(self, request: WsgiHttpRequest) -> BoltResponse:
        try:
            parsed = payloads.bolt_request(
                request.get_body(), request.query_string, request.get_headers()
            )
        except payloads.MalformedPayload as exc:
            log.warning("rejected a signed request that is not a Slack payload: %s", exc)
            return BoltResponse(
                status=400,
                body=json.dumps({"error": str(exc)}),
                headers={"content-type": "application/json"},
            )
        return self.app.dispatch(parsed)


class WebApp:
    def __init__(
        self,
        app: App,
        health: Callable[[], dict[str, str]],
        signing_secret: str,
        metrics_app: Callable[..., Iterable[bytes]] | None = None,
    ) -> None:
        self.slack = SlackHandler(app, EVENTS_PATH)
        self.health = health
        self.metrics_app = metrics_app  # GET /metrics (None: 404)
        self.verifier = SignatureVerifier(signing_secret)

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        if path == "/healthz" and method in ("GET", "HEAD"):  # liveness: the process serves
            return _respond(start_response, "200 OK", {"ok": True})
        if path == "/readyz" and method in ("GET", "HEAD"):  # readiness: Redis and storage
            checks = self.health()
            ok = all(value == "ok" for value in checks.values())
            status = "200 OK" if ok else "503 Service Unavailable"
            return _respond(start_response, status, {"ok": ok, "checks": checks})
        if path == "/metrics" and self.metrics_app is not None:
            return self.metrics_app(environ, start_response)
        if path == EVENTS_PATH:
            return self._event(environ, start_response)
        # the OAuth pages (GETs: a body means nothing, and is never read); any other path: 404
        unread = {**environ, "wsgi.input": io.BytesIO(b""), "CONTENT_LENGTH": "0"}
        return self.slack(unread, start_response)

    def _event(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        """A Slack request: bounded, read and signed before Bolt's adapter parses it."""
        if environ.get("REQUEST_METHOD") != "POST":
            return _respond(start_response, "405 Method Not Allowed", {"error": "POST only"})
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _respond(start_response, "400 Bad Request", {"error": "bad Content-Length"})
        if length > MAX_BODY_BYTES:
            return _respond(start_response, "413 Payload Too Large", {"error": "body too large"})
        body = environ["wsgi.input"].read(length) if length else b""
        if not self._signed(body, environ):
            log.warning("rejected a request with a bad or stale signature")
            return _respond(start_response, "401 Unauthorized", {"error": "invalid signature"})
        read = {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
        return self.slack(read, start_response)

    def _signed(self, body: bytes, environ: dict) -> bool:
        timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP")
        signature = environ.get("HTTP_X_SLACK_SIGNATURE")
        if not timestamp or not signature or not timestamp.isdigit():
            return False
        try:
            return self.verifier.is_valid(body, timestamp, signature)
        except UnicodeDecodeError:  # slack_sdk signs text: Slack sends nothing but UTF-8
            return False


def create_app() -> WebApp:
    runtime, app = start_runtime(socket_mode=False, exit_code=BOOT_ERROR_EXIT)
    return WebApp(
        app,
        runtime.health,
        runtime.config.signing_secret,
        metrics_endpoint.Endpoint(runtime.config.metrics_token, runtime.state),
    )
