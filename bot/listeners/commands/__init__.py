from slack_bolt import App

from bot.listeners.commands import reset
from bot.listeners.deps import ListenerDeps


def register(app: App, deps: ListenerDeps) -> None:
    app.command("/reset")(reset.handler(deps))
