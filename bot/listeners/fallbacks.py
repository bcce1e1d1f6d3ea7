"""Catch-alls: acknowledge what no listener handles, so Slack does not resend it."""

from __future__ import annotations

import logging
import re

from slack_bolt import Ack, App

log = logging.getLogger(__name__)
ANYTHING = re.compile(".*")


def _ack(ack: Ack, body: dict) -> None:
    kind = (body.get("event") or {}).get("type") or body.get("type") or body.get("command")
    log.debug("acknowledged unhandled %s", kind)
    ack()


def register(app: App) -> None:
    app.event(ANYTHING)(_ack)
    app.command(ANYTHING)(_ack)
    app.shortcut(ANYTHING)(_ack)
    app.action(ANYTHING)(_ack)
    app.view(ANYTHING)(_ack)
    app.options(ANYTHING)(_ack)
