"""Socket Mode: the `worker` process (no public URL needed)."""

from __future__ import annotations

import logging
import signal
import threading

from slack_bolt.adapter.socket_mode import SocketModeHandler

from bot.main import start_runtime, stop_all
from bot.runtime import slack_client

log = logging.getLogger(__name__)


def main() -> None:
    runtime, app = start_runtime(socket_mode=True)
    config = runtime.config
    handler = SocketModeHandler(
        app, config.app_token, web_client=slack_client(config, token=config.app_token)
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    handler.connect()
    log.info("connected to Slack over Socket Mode")
    stop.wait()
    log.info("shutting down: closing the socket, then finishing running turns")
    handler.close()
    stop_all()
