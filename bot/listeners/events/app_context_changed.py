"""The user moved around Slack with the bot's agent view open: remember what they view
now (validated: bot/turns/inputs/app_context.py), for their next question in the DM."""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_bolt import BoltContext

from bot.listeners.deps import ListenerDeps
from bot.slack.payloads import installation_id
from bot.turns.inputs.app_context import parse, remember

log = logging.getLogger(__name__)


def handler(deps: ListenerDeps) -> Callable[..., None]:
    def app_context_changed(event: dict, context: BoltContext) -> None:
        """Before the ack, with the ack path's short store timeouts: a view is a courtesy,
        so a store error is logged, never retried by Slack."""
        user, team = event.get("user"), installation_id(context)
        if not isinstance(user, str) or not user or not team:
            log.debug("ignored app_context_changed without user or team")
            return
        entities = parse(event.get("context"), team)
        try:
            remember(deps.state.quick(), team, user, entities)
        except Exception as exc:
            log.warning("could not remember what %s views: %s", user, exc)

    return app_context_changed
