"""/reset: clear a thread's session (all personas) — acknowledged at once, done in order."""

from __future__ import annotations

from collections.abc import Callable

from redis.exceptions import RedisError
from slack_bolt import Ack, BoltContext

from bot.intake.intake import UNAVAILABLE
from bot.intake.reset import Refusal, from_command
from bot.listeners.deps import ListenerDeps
from bot.slack.payloads import installation_id


def handler(deps: ListenerDeps) -> Callable[..., None]:
    def reset(ack: Ack, command: dict, context: BoltContext) -> None:
        channel = context.channel_id or ""
        is_dm = channel.startswith("D") or command.get("channel_name") == "directmessage"
        try:
            job = from_command(
                deps.state,
                installation_id(context),
                channel,
                context.user_id or "",
                command.get("text") or "",
                is_dm,
            )
            if isinstance(job, Refusal):
                ack(text=job.text)
                return
            deps.intake.accept(deps.slack.bind(job, context))
        except RedisError:  # commands are never retried: say so instead of failing
            ack(text=UNAVAILABLE)
            return
        where = "our DM conversation" if is_dm else f"thread {job.thread_ts}"
        ack(text=f"Resetting {where}… I'll confirm here when it's done.")

    return reset
