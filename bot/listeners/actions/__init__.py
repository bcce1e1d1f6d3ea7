from slack_bolt import App

from bot.agent.home import HOME_RESET_ACTION
from bot.answer.approval_message import ACTIONS as APPROVAL_ACTIONS
from bot.answer.feedback import FEEDBACK_ACTION
from bot.answer.question_message import ANSWER_ACTION, DECLINE_ACTION, OPEN_ACTION
from bot.answer.stop import STOP_ACTION
from bot.listeners.actions import approval, feedback, home_reset, question, stop_answer
from bot.listeners.deps import ListenerDeps


def register(app: App, deps: ListenerDeps) -> None:
    # `ack` records the click before Slack gets its 200; the ephemeral reply is a Web API
    # call that could outlast Slack's 3 s, so it runs lazily (after the ack, in a thread).
    app.action(FEEDBACK_ACTION)(ack=feedback.handler(deps), lazy=[feedback.thank(deps)])
    app.action(STOP_ACTION)(ack=stop_answer.handler(deps), lazy=[stop_answer.confirm(deps)])
    app.action(HOME_RESET_ACTION)(home_reset.handler(deps))  # queues a reset job: fast
    for action_id in APPROVAL_ACTIONS:  # queues a resume job, or refuses (ephemeral: lazily)
        app.action(action_id)(ack=approval.handler(deps), lazy=[approval.refuse(deps)])
    # a tool's question: the form opens with the click's trigger (3 s) right after the ack
    ack = question.acknowledge
    app.action(ANSWER_ACTION)(ack=ack, lazy=[question.open_form(deps)])
    app.action(OPEN_ACTION)(ack=ack, lazy=[question.reply_with("accept")(deps)])
    app.action(DECLINE_ACTION)(ack=ack, lazy=[question.reply_with("decline")(deps)])
