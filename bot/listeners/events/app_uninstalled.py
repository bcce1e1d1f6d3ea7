"""The app was uninstalled from a workspace (or org): forget its token, its sessions and
every key of it in the state store."""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_bolt import BoltContext

from bot.serve.runtime import Runtime
from bot.slack.installations import delete_installation, store_key
from bot.slack.payloads import installation_id

log = logging.getLogger(__name__)


def handler(runtime: Runtime) -> Callable[..., None]:
    def app_uninstalled(context: BoltContext) -> None:
        """Before the ack: a storage error gets a 500 and Slack retries (deleting twice is
        harmless)."""
        team = installation_id(context)
        if runtime.slack.store is not None:  # OAuth: Bolt no longer authorizes its events
            delete_installation(runtime.slack.store, context)
            runtime.slack.forget(**store_key(context))
        deleted = runtime.store.delete_team(team)  # first: it marks the team uninstalled
        forgotten = runtime.state.forget_team(team)
        log.info(
            "the app was uninstalled from %s: deleted %d sessions, %d state keys%s",
            team,
            deleted,
            forgotten,
            " and its installation" if runtime.slack.store is not None else "",
        )

    return app_uninstalled
