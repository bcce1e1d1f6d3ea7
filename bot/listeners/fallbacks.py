"""What no listener handles: acknowledged (2xx), so Slack neither retries nor resends it.

Bolt answers an unmatched request with 404, which in Socket Mode means no ack at all.
With `raise_error_for_unhandled_request=True` (see bot/app.py) it hands those requests
to this error handler instead, Bolt's documented way to acknowledge them.
"""

from __future__ import annotations

import logging

from redis.exceptions import RedisError
from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.error import BoltUnhandledRequestError

log = logging.getLogger(__name__)


def _kind(body: dict) -> str:
    event = body.get("event")
    event_type = event.get("type") if isinstance(event, dict) else None
    return str(event_type or body.get("type") or body.get("command") or "request")


def on_error(error: Exception, request: BoltRequest) -> BoltResponse | None:
    body = request.body
    if isinstance(error, BoltUnhandledRequestError):
        if body.get("type") == "app_rate_limited":  # Slack is dropping this app's events
            log.warning("Slack rate-limited this app's events (minute %s)",
                        body.get("minute_rate_limited"))
        else:
            log.debug("acknowledged unhandled %s", _kind(body))
        return BoltResponse(status=200, body="")
    if isinstance(error, RedisError):  # already logged; the 500 makes Slack retry later
        return None
    log.error("listener failed on %s", _kind(body), exc_info=error)
    return None


def register(app: App) -> None:
    app.error(on_error)
