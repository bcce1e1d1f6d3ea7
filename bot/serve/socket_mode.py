"""Socket Mode: the `worker` process (no public URL needed)."""

from __future__ import annotations

import logging
import signal
import sys
import threading

from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk.errors import SlackApiError

from bot.obs import metrics_endpoint
from bot.serve.main import start_runtime, stop_all
from bot.slack.clients import slack_client

log = logging.getLogger(__name__)


def main() -> None:
    runtime, app = start_runtime(socket_mode=True)
    config = runtime.config
    metrics_endpoint.serve(config.metrics_port, config.metrics_token, runtime.state)
    handler = SocketModeHandler(
        app, config.app_token, web_client=slack_client(config, token=config.app_token)
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        handler.connect()
    except SlackApiError as exc:
        log.error(
            "could not open a Socket Mode connection (%s): check SLACK_APP_TOKEN is an xapp- "
            "token with connections:write and that Socket Mode is enabled for the app",
            exc.response.get("error"),
        )
        stop_all()
        sys.exit(2)
    if handler.client.is_connected():
        log.info("connected to Slack over Socket Mode")
    stop.wait()
    log.info("shutting down: closing the socket, then finishing running turns")
    handler.close()
    stop_all()
