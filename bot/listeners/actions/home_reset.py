"""The Home tab's Reset button: exactly what /reset does for that thread (a reset job, in
order with the thread's turns); once done, the Home view is published again, the thread
`closed` (bot/agent/home.py `after_reset`).

Only a thread the clicker's own Home tab lists can be reset from there: the button's value
comes back from the client, so it is checked against the store, as /reset only resets
threads of the channel it runs in."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

from redis.exceptions import RedisError
from slack_bolt import Ack, BoltContext

from bot.agent.home import parse_reset_value
from bot.answer.home_threads import listed
from bot.intake.reset import reset_job
from bot.jobs import session_id
from bot.listeners.deps import ListenerDeps
from bot.slack.payloads import installation_id

log = logging.getLogger(__name__)


def handler(deps: ListenerDeps) -> Callable[..., None]:
    def home_reset(ack: Ack, action: dict, context: BoltContext) -> None:
        ack()
        target, user = parse_reset_value(action.get("value")), context.user_id
        if target is None or not user:
            log.debug("ignored a Home reset click without a thread of ours or a user")
            return
        team, (channel, thread_ts) = installation_id(context), target
        try:
            if not listed(deps.state, team, user, session_id(team, channel, thread_ts)):
                log.warning("%s clicked Reset on a thread their Home tab does not list", user)
                return
            job = reset_job(team, channel, thread_ts, user, channel)
            deps.intake.accept(deps.slack.bind(dataclasses.replace(job, from_home=True), context))
        except RedisError as exc:  # nowhere to say so on the Home tab: the button stays
            log.warning("could not reset %s from %s's Home tab: %s", thread_ts, user, exc)

    return home_reset
