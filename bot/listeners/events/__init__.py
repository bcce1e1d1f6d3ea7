from slack_bolt import App

from bot.listeners.events import (
    app_mention,
    app_uninstalled,
    assistant_thread_started,
    message,
    tokens_revoked,
)
from bot.serve.runtime import Runtime


def register(app: App, runtime: Runtime) -> None:
    app.event("app_mention")(app_mention.handler(runtime))
    app.event("message")(message.handler(runtime))
    app.event("app_uninstalled")(app_uninstalled.handler(runtime))
    app.event("tokens_revoked")(tokens_revoked.handler(runtime))
    # A Web API call: run it after the ack (lazily), so Slack never waits for it.
    app.event("assistant_thread_started")(
        ack=_ack_only, lazy=[assistant_thread_started.handler(runtime)]
    )


def _ack_only() -> None:
    """Events are acknowledged by Bolt itself; the work is in the lazy listener."""
