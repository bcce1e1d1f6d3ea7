"""Slack listeners, one thin file each; `register` wires every package into the app."""

from slack_bolt import App

from bot.listeners import actions, commands, events, fallbacks, shortcuts
from bot.serve.runtime import Runtime


def register(app: App, runtime: Runtime) -> None:
    events.register(app, runtime)
    commands.register(app, runtime)
    shortcuts.register(app, runtime)
    actions.register(app, runtime)
    fallbacks.register(app)  # last: acks everything nothing else matched
