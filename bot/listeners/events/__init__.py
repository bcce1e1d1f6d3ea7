from slack_bolt import App

from bot.listeners.events import app_mention, message
from bot.runtime import Runtime


def register(app: App, runtime: Runtime) -> None:
    app.event("app_mention")(app_mention.handler(runtime))
    app.event("message")(message.handler(runtime))
