from slack_bolt import App

from bot.listeners.commands import reset
from bot.serve.runtime import Runtime


def register(app: App, runtime: Runtime) -> None:
    app.command("/reset")(reset.handler(runtime))
