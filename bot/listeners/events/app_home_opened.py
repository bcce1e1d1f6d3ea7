"""The user opened one of the bot's tabs: "messages" (the agent view's DM) gets the
suggested prompts (as `assistant_thread_started` gave them, before the agent messaging
experience); "home" gets the Home view (bot/agent/home.py). One Web API call each."""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_bolt import BoltContext
from slack_sdk import WebClient

from bot.agent.home import publish_home
from bot.listeners.deps import ListenerDeps
from bot.listeners.events.assistant_thread_started import offer_prompts
from bot.slack.payloads import installation_id

log = logging.getLogger(__name__)


def handler(deps: ListenerDeps) -> Callable[..., None]:
    def home_opened(event: dict, client: WebClient, context: BoltContext) -> None:
        tab, user, channel = event.get("tab"), event.get("user"), event.get("channel")
        if tab == "messages" and isinstance(channel, str) and channel:
            offer_prompts(client, deps.personas, channel)  # no thread_ts: the DM itself
        elif tab == "home" and isinstance(user, str) and user:
            publish_home(client, deps.state, deps.personas, installation_id(context), user)
        else:
            log.debug("ignored app_home_opened on tab %r", tab)

    return home_opened
