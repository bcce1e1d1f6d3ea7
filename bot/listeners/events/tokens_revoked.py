"""Slack revoked tokens of this app in a workspace: delete them from the installations."""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_bolt import BoltContext

from bot.listeners.deps import ListenerDeps
from bot.slack.installations import delete_revoked, store_key
from bot.slack.payloads import installation_id

log = logging.getLogger(__name__)


def handler(deps: ListenerDeps) -> Callable[..., None]:
    def tokens_revoked(event: dict, context: BoltContext) -> None:
        team = installation_id(context)
        if deps.slack.store is None:  # single-token mode: nothing stored to delete
            log.warning(
                "Slack revoked tokens of this app in %s: if SLACK_BOT_TOKEN was one, "
                "reinstall the app and set the new token",
                team,
            )
            return
        bot = delete_revoked(deps.slack.store, event, context)
        if bot:
            deps.slack.forget(**store_key(context))
        log.info(
            "tokens revoked in %s: deleted %s",
            team,
            "the bot token" if bot else "the revoked user tokens",
        )

    return tokens_revoked
