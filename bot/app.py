"""The Bolt app: Slack requests in, listeners registered, nothing else."""

from __future__ import annotations

import logging

from slack_bolt import App

from bot.listeners import register
from bot.runtime import Runtime


def build_app(runtime: Runtime) -> App:
    config = runtime.config
    app = App(
        signing_secret=config.signing_secret or None,
        client=runtime.client,
        # Listeners only dedup and queue (fast), so run them before acknowledging: an
        # acknowledged message is already durable.
        process_before_response=True,
        logger=logging.getLogger("bot.bolt"),
    )
    register(app, runtime)
    return app
