"""The app was uninstalled from a workspace (or org): forget its token, its sessions and
every key of it in the state store."""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_bolt import BoltContext

from bot.listeners.deps import ListenerDeps
from bot.slack.installations import delete_installation, store_key
from bot.slack.payloads import installation_id

log = logging.getLogger(__name__)


def handler(deps: ListenerDeps) -> Callable[..., None]:
    def app_uninstalled(context: BoltContext) -> None:
        """Before the ack: a storage error gets a 500 and Slack retries (deleting twice is
        harmless)."""
        team = installation_id(context)
        if deps.slack.store is not None:  # OAuth: Bolt no longer authorizes its events
            delete_installation(deps.slack.store, context)
            deps.slack.forget(**store_key(context))
        deleted = deps.sessions.delete_team(team)  # first: it marks the team uninstalled
        forgotten = deps.state.forget_team(team)
        log.info(
            "the app was uninstalled from %s: deleted %d sessions, %d state keys%s",
            team,
            deleted,
            forgotten,
            " and its installation" if deps.slack.store is not None else "",
        )

    return app_uninstalled
