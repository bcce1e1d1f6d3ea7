"""Message shortcut "Reset conversation": works on any message of a thread."""

from __future__ import annotations

from collections.abc import Callable

from redis.exceptions import RedisError
from slack_bolt import Ack

from bot.jobs import DM_THREAD
from bot.reply import Replier
from bot.reset import reset_job
from bot.runtime import UNAVAILABLE, Runtime


def handler(runtime: Runtime) -> Callable[..., None]:
    def reset_conversation(ack: Ack, shortcut: dict) -> None:
        ack()
        channel = shortcut["channel"]["id"]
        message = shortcut.get("message", {})
        thread_ts = message.get("thread_ts") or message.get("ts")
        if channel.startswith("D") and not message.get("thread_ts"):
            thread_ts = DM_THREAD
        team = (shortcut.get("team") or {}).get("id") or shortcut.get("user", {}).get("team_id", "")
        user = shortcut["user"]["id"]
        try:
            runtime.accept(reset_job(team, channel, thread_ts, user, channel))
        except RedisError:
            Replier(runtime.client, False).ephemeral(channel, user, UNAVAILABLE, thread_ts)

    return reset_conversation
