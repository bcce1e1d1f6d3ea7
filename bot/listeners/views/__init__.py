from slack_bolt import App

from bot.answer.question_form import QUESTION_VIEW
from bot.listeners.deps import ListenerDeps
from bot.listeners.views import question


def register(app: App, deps: ListenerDeps) -> None:
    app.view_submission(QUESTION_VIEW)(question.submit(deps))  # answers within the ack
