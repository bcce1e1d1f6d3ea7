"""What no listener handles: acknowledged (2xx), so Slack neither retries nor resends it.

Listener errors too, except Redis or storage trouble: those get a 500, so Slack retries.

Bolt answers an unmatched request with 404, which in Socket Mode means no ack at all.
With `raise_error_for_unhandled_request=True` (see bot/serve/bolt_app.py) it hands those requests
to this error handler instead, Bolt's documented way to acknowledge them.
"""

from __future__ import annotations

import logging

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.error import BoltUnhandledRequestError

from bot.errors import TRANSIENT_ERRORS

log = logging.getLogger(__name__)


def _kind(body: dict) -> str:
    event = body.get("event")
    event_type = event.get("type") if isinstance(event, dict) else None
    return str(event_type or body.get("type") or body.get("command") or "request")


def on_error(error: Exception, request: BoltRequest) -> BoltResponse | None:
    body = request.body
    if isinstance(error, BoltUnhandledRequestError):
        if body.get("type") == "app_rate_limited":  # Slack is dropping this app's events
            log.warning(
                "Slack rate-limited this app's events (minute %s)", body.get("minute_rate_limited")
            )
        else:
            log.debug("acknowledged unhandled %s", _kind(body))
        return BoltResponse(status=200, body="")
    if isinstance(error, TRANSIENT_ERRORS):  # the 500 makes Slack retry later
        log.warning(
            "could not take %s now (%s: %s); Slack will retry",
            _kind(body),
            type(error).__name__,
            error,
        )
        return None
    # A bug or a payload no listener can use: a retry would fail the same way, so ack it.
    log.error("listener failed on %s", _kind(body), exc_info=error)
    return BoltResponse(status=200, body="")


def register(app: App) -> None:
    app.error(on_error)
