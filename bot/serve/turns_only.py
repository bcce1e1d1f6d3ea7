"""Turns: a process that only answers (`python -m bot turns`, the Procfile's `turns`).

With `PROCESS_ROLE=accept` on the `web` (or socket) processes they only verify, dedup and
queue, so acks never wait behind turn work; these processes drain the queues in Redis.
"""

from __future__ import annotations

import logging
import signal
import threading

from bot.obs import metrics_endpoint
from bot.serve.main import start_runtime, stop_all

log = logging.getLogger(__name__)


def main() -> None:
    runtime, _ = start_runtime(socket_mode=False, turns_only=True)
    metrics_endpoint.serve(runtime.config.metrics_port, runtime.config.metrics_token, runtime.state)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    log.info("shutting down: finishing running turns, leaving queued work to others")
    stop_all()
