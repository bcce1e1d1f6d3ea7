from slack_bolt import App

from bot.answer.feedback import FEEDBACK_ACTION
from bot.answer.stop import STOP_ACTION
from bot.listeners.actions import feedback, stop_answer
from bot.serve.runtime import Runtime


def register(app: App, runtime: Runtime) -> None:
    # `ack` records the click before Slack gets its 200; the ephemeral reply is a Web API
    # call that could outlast Slack's 3 s, so it runs lazily (after the ack, in a thread).
    app.action(FEEDBACK_ACTION)(ack=feedback.handler(runtime), lazy=[feedback.thank(runtime)])
    app.action(STOP_ACTION)(ack=stop_answer.handler(runtime), lazy=[stop_answer.confirm(runtime)])
