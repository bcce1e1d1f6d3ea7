from slack_bolt import App

from bot.listeners.deps import ListenerDeps
from bot.listeners.events import (
    agent_session_stopped,
    app_context_changed,
    app_home_opened,
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
    stop_request, leave_processing = agent_session_stopped.handler(deps)
    app.event("agent_session_stopped")(ack=stop_request, lazy=[leave_processing])
    app.event("assistant_thread_started")(
        ack=_ack_only, lazy=[assistant_thread_started.handler(deps)]
    )
    app.event("app_home_opened")(ack=_ack_only, lazy=[app_home_opened.handler(deps)])


def _ack_only() -> None:
    """Events are acknowledged by Bolt itself; the work is in the lazy listener."""
