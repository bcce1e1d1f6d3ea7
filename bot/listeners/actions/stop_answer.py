"""The Stop button on an answer being streamed: ask that answer to stop, tell the clicker."""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_bolt import Ack, BoltContext

from bot.answer.reply import ephemeral
from bot.answer.stop import parse_stop_value, request_stop
from bot.jobs import reply_thread_of
from bot.listeners.deps import ListenerDeps

log = logging.getLogger(__name__)
STOPPING = "Stopping…"


def handler(deps: ListenerDeps) -> Callable[..., None]:
    def stop_answer(ack: Ack, action: dict, context: BoltContext) -> None:
        ack()
        target = parse_stop_value(action.get("value"))
        if target is None:
            log.debug("ignored a stop click without a value of ours")
            return
        session, for_ts = target
        request_stop(deps.state, session, for_ts)
        log.info("stop requested in %s (answer to %s) by %s", session, for_ts, context.user_id)

    return stop_answer


def confirm(deps: ListenerDeps) -> Callable[..., None]:
    def confirm_stop(action: dict, context: BoltContext) -> None:
        target = parse_stop_value(action.get("value"))
        user, channel = context.user_id, context.channel_id
        if target is None or not user or not channel:
            return
        ephemeral(context.client, channel, user, STOPPING, reply_thread_of(target[0]))

    return confirm_stop
