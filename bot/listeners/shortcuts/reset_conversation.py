"""Message shortcut "Reset conversation": works on any message of a thread."""

from __future__ import annotations

from collections.abc import Callable

from redis.exceptions import RedisError
from slack_bolt import Ack, BoltContext

from bot.answer.reply import ephemeral
from bot.intake.intake import UNAVAILABLE
from bot.intake.reset import reset_job
from bot.jobs import DM_THREAD
from bot.listeners.deps import ListenerDeps
from bot.slack.payloads import installation_id


def handler(deps: ListenerDeps) -> Callable[..., None]:
    def reset_conversation(ack: Ack, shortcut: dict, context: BoltContext) -> None:
        ack()
        channel, user = context.channel_id, context.user_id
        message = shortcut.get("message") or {}
        thread_ts = message.get("thread_ts") or message.get("ts")
        if not channel or not user or not thread_ts:  # a global shortcut has no message
            return
        if channel.startswith("D") and not message.get("thread_ts"):
            thread_ts = DM_THREAD
        try:
            job = reset_job(installation_id(context), channel, thread_ts, user, channel)
            deps.intake.accept(deps.slack.bind(job, context))
        except RedisError:
            ephemeral(context.client, channel, user, UNAVAILABLE, thread_ts)

    return reset_conversation
