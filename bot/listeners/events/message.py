"""Plain messages: thread replies in joined threads, and DMs; other apps' posts in joined
threads become context for the next turn."""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_bolt import BoltContext
from slack_bolt.request import BoltRequest

from bot.intake.route import Ignored, route_bot_post, route_message
from bot.listeners.deps import ListenerDeps
from bot.slack.payloads import installation_id, retry_num
from bot.turns.inputs.thread_notes import remember

log = logging.getLogger(__name__)


def handler(deps: ListenerDeps) -> Callable[..., None]:
    def message(body: dict, event: dict, context: BoltContext, request: BoltRequest) -> None:
        team = installation_id(context)
        routed = route_message(
            event, team, context["bot_user_id"], deps.personas.ids, deps.intake.is_joined
        )
        if isinstance(routed, Ignored):
            post = route_bot_post(
                event, team, context["bot_user_id"], context.get("bot_id"), deps.intake.is_joined
            )
            if isinstance(post, Ignored):
                log.debug("ignored message: %s (%s)", routed.reason, post.reason)
            else:
                remember(deps.state, post)
            return
        deps.intake.take(
            deps.slack.bind(routed, context), body.get("event_id"), retry_num(request.headers)
        )

    return message
