"""@bot in a channel: start or continue the thread's conversation."""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_bolt import BoltContext
from slack_bolt.request import BoltRequest

from bot.intake.route import Ignored, route_mention
from bot.listeners.deps import ListenerDeps
from bot.slack.payloads import installation_id, retry_num

log = logging.getLogger(__name__)


def handler(deps: ListenerDeps) -> Callable[..., None]:
    def app_mention(body: dict, event: dict, context: BoltContext, request: BoltRequest) -> None:
        team = installation_id(context)
        routed = route_mention(event, team, context["bot_user_id"], deps.personas.ids)
        if isinstance(routed, Ignored):
            log.debug("ignored app_mention: %s", routed.reason)
            return
        deps.intake.take(
            deps.slack.bind(routed, context), body.get("event_id"), retry_num(request.headers)
        )

    return app_mention
