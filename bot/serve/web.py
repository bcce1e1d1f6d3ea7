"""HTTP mode: a WSGI app serving Slack at POST /slack/events, GET /healthz (liveness),
GET /readyz (readiness: Redis and the session storage answer) and GET /metrics
(Prometheus, with METRICS_TOKEN: bot/obs/metrics_endpoint.py); with OAuth, Bolt's GET /slack/install
and GET /slack/oauth_redirect too.

Run it under gunicorn (see Procfile); `create_app()` is the factory each worker calls.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.adapter.wsgi.http_response import WsgiHttpResponse
from slack_bolt.oauth import OAuthFlow
from slack_bolt.request import BoltRequest
from slack_sdk.signature import SignatureVerifier

from bot.config.settings import BOOT_ERROR_EXIT
from bot.obs import metrics_endpoint
from bot.serve.http_limits import MAX_BODY_BYTES
from bot.serve.main import start_runtime
from bot.slack import payloads

log = logging.getLogger(__name__)
StartResponse = Callable[..., Any]


def _respond(start_response: StartResponse, status: str, payload: dict) -> list[bytes]:
    body = json.dumps(payload).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


class WebApp:
    def __init__(
        self,
        app: App,
        health: Callable[[], dict[str, str]],
        signing_secret: str,
        metrics_app: Callable[..., Iterable[bytes]] | None = None,
    ) -> None:
        self.app = app
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
        flow = self.app.oauth_flow
        if (
            flow is not None
            and method == "GET"
            and path in (flow.install_path, flow.redirect_uri_path)
        ):
            return self._oauth(flow, path, environ, start_response)
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
        body = environ["wsgi.input"].read(length) if length else b""
        if not self._signed(body, environ):
            log.warning("rejected a request with a bad or stale signature")
            return _respond(start_response, "401 Unauthorized", {"error": "invalid signature"})
        try:
            request = payloads.bolt_request(
                body.decode("utf-8"),
                environ.get("QUERY_STRING", ""),
                WsgiHttpRequest(environ).get_headers(),
            )
        except (UnicodeDecodeError, payloads.MalformedPayload) as exc:
            log.warning("rejected a signed request that is not a Slack payload: %s", exc)
            return _respond(start_response, "400 Bad Request", {"error": str(exc)})
        answer = self.app.dispatch(request)
        response = WsgiHttpResponse(answer.status, answer.headers, answer.body)
        start_response(response.status, response.get_headers())
        return response.get_body()

    @staticmethod
    def _oauth(
        flow: OAuthFlow, path: str, environ: dict, start_response: StartResponse
    ) -> Iterable[bytes]:
        """Bolt's OAuth flow: the install link (state cookie, redirect to Slack) and the
        page Slack sends the installer back to (the installation is stored)."""
        request = BoltRequest(
            body="",
            query=environ.get("QUERY_STRING", ""),
            headers=WsgiHttpRequest(environ).get_headers(),
        )
        handle = flow.handle_installation if path == flow.install_path else flow.handle_callback
        answer = handle(request)
        response = WsgiHttpResponse(answer.status, answer.headers, answer.body)
        start_response(response.status, response.get_headers())
        return response.get_body()

    def _signed(self, body: bytes, environ: dict) -> bool:
        timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP")
        signature = environ.get("HTTP_X_SLACK_SIGNATURE")
        if not timestamp or not signature or not timestamp.isdigit():
            return False
        return self.verifier.is_valid(body, timestamp, signature)


def create_app() -> WebApp:
    runtime, app = start_runtime(socket_mode=False, exit_code=BOOT_ERROR_EXIT)
    return WebApp(
        app,
        runtime.health,
        runtime.config.signing_secret,
        metrics_endpoint.Endpoint(runtime.config.metrics_token, runtime.state),
    )
