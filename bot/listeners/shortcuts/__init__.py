from slack_bolt import App

from bot.listeners.deps import ListenerDeps
from bot.listeners.shortcuts import reset_conversation


def register(app: App, deps: ListenerDeps) -> None:
    app.shortcut("reset_conversation")(reset_conversation.handler(deps))
