from slack_bolt import App

from bot.listeners.deps import ListenerDeps
from bot.listeners.events import (
    app_context_changed,
    app_mention,
    app_uninstalled,
    assistant_thread_started,
    message,
    tokens_revoked,
)


def register(app: App, deps: ListenerDeps) -> None:
    app.event("app_mention")(app_mention.handler(deps))
    app.event("message")(message.handler(deps))
    app.event("app_uninstalled")(app_uninstalled.handler(deps))
    app.event("tokens_revoked")(tokens_revoked.handler(deps))
    app.event("app_context_changed")(app_context_changed.handler(deps))
    # A Web API call: run it after the ack (lazily), so Slack never waits for it.
    app.event("assistant_thread_started")(
        ack=_ack_only, lazy=[assistant_thread_started.handler(deps)]
    )


def _ack_only() -> None:
    """Events are acknowledged by Bolt itself; the work is in the lazy listener."""
