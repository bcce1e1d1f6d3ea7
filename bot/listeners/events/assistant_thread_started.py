"""Someone opened the bot's DM / agent view: offer suggested prompts from the personas."""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.agent.help import PROMPTS_TITLE, suggested_prompts
from bot.agent.personas import Personas
from bot.listeners.deps import ListenerDeps

log = logging.getLogger(__name__)


def handler(deps: ListenerDeps) -> Callable[..., None]:
    def set_suggested_prompts(event: dict, client: WebClient) -> None:
        thread = event.get("assistant_thread")
        thread = thread if isinstance(thread, dict) else {}
        channel, thread_ts = thread.get("channel_id"), thread.get("thread_ts")
        if not isinstance(channel, str) or not channel or not isinstance(thread_ts, str):
            log.debug("ignored assistant_thread_started without channel_id or thread_ts")
            return
        offer_prompts(client, deps.personas, channel, thread_ts)

    return set_suggested_prompts


def offer_prompts(
    client: WebClient, personas: Personas, channel: str, thread_ts: str | None = None
) -> None:
    """Set the personas' suggested prompts in `channel` (a thread of it, or without
    `thread_ts` the agent view's DM itself) with this workspace's `client`."""
    try:
        client.assistant_threads_setSuggestedPrompts(
            channel_id=channel,
            thread_ts=thread_ts,
            title=PROMPTS_TITLE,
            prompts=suggested_prompts(personas),
        )
    except SlackApiError as exc:  # the prompts are a courtesy; the thread works without
        log.warning("could not set suggested prompts in %s: %s", channel, exc.response.get("error"))
