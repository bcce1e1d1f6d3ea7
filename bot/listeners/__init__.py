"""Slack listeners, one thin file each; `register` wires every package into the app."""

from slack_bolt import App

from bot.listeners import actions, commands, events, fallbacks, shortcuts, views
from bot.listeners.deps import ListenerDeps


def register(app: App, deps: ListenerDeps) -> None:
    events.register(app, deps)
    commands.register(app, deps)
    shortcuts.register(app, deps)
    actions.register(app, deps)
    views.register(app, deps)
    fallbacks.register(app)  # last: acks everything nothing else matched
