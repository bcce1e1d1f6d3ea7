"""The Bolt app: Slack requests in, listeners registered, nothing else."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from slack_bolt import App

from bot.listeners import register
from bot.listeners.deps import ListenerDeps
from bot.serve.runtime import Runtime
from bot.slack.installations import oauth_settings


def build_app(runtime: Runtime) -> App:
    config = runtime.config
    oauth = None  # single-token mode: Bolt authorizes every request with SLACK_BOT_TOKEN
    if runtime.slack.store is not None and runtime.oauth_states is not None:
        # many workspaces: Bolt's OAuth flow, and its `authorize` reading the installations
        oauth = oauth_settings(config, runtime.slack.store, runtime.oauth_states)
    with _env_defaults_hidden():
        app = App(
            signing_secret=config.signing_secret or None,
            client=runtime.client,
            oauth_settings=oauth,
            # Listeners only dedup and queue (fast), so run them before acknowledging: an
            # acknowledged message is already durable.
            process_before_response=True,
            # Unmatched requests go to the error handler, which acks them (listeners/fallbacks).
            raise_error_for_unhandled_request=True,
            logger=logging.getLogger("bot.bolt"),
        )
    register(
        app,
        ListenerDeps(
            runtime.intake,
            runtime.state,
            runtime.slack,
            runtime.personas,
            runtime.store,
            config.approvers,
        ),
    )
    return app


@contextmanager
def _env_defaults_hidden() -> Iterator[None]:
    """Everything Bolt needs is passed explicitly. Bolt would also read SLACK_BOT_TOKEN from
    the environment and then warn that the `client` we pass wins over it."""
    token = os.environ.pop("SLACK_BOT_TOKEN", None)
    try:
        yield
    finally:
        if token is not None:
            os.environ["SLACK_BOT_TOKEN"] = token
