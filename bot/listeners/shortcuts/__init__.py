from slack_bolt import App

from bot.listeners.shortcuts import reset_conversation
from bot.serve.runtime import Runtime


def register(app: App, runtime: Runtime) -> None:
    app.shortcut("reset_conversation")(reset_conversation.handler(runtime))
