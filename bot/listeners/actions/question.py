"""Answer / Open / Decline on a tool's question (bot/answer/question_message.py).

Only the person who asked replies: anyone else is told so privately. **Answer** opens the
form (a modal, bot/answer/question_form.py; its submission: bot/listeners/views/question.py)
with the click's trigger, which Slack accepts for 3 s and once: the modal is opened right
after the ack. **Open** is the link button of a question that asks to open a link: the click
accepts it. **Decline** declines. A question whose tool call no longer waits (answered,
timed out, its process gone) is said to be closed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Literal

from slack_bolt import Ack, BoltContext

from bot.answer.question_form import modal
from bot.answer.reply import ephemeral
from bot.listeners.deps import ListenerDeps
from bot.slack.payloads import installation_id
from bot.store.questions import Question, Questions, Reply

log = logging.getLogger(__name__)
CLOSED = "This question is closed: the tool no longer waits for an answer."
NOT_YOURS = "Only <@{requester}> (who asked) can answer this question."
ANSWERED = "This question already has an answer."


def acknowledge(ack: Ack) -> None:
    ack()


def _thread_of(body: dict) -> str | None:
    """The thread of the clicked message (where a private note to the clicker goes)."""
    message, container = body.get("message") or {}, body.get("container") or {}
    return message.get("thread_ts") or container.get("thread_ts") or None


def open_question(deps: ListenerDeps, question_id: Any, context: BoltContext) -> Question | None:
    """The question `question_id` of this installation, while its tool call waits for it."""
    question = Questions(deps.state).find(str(question_id or ""))
    return question if question is not None and question.team == installation_id(context) else None


def _question(
    deps: ListenerDeps, action: dict, body: dict, context: BoltContext
) -> Question | None:
    """The open question clicked, for its asker; anyone else (or a closed one) is told."""
    user, channel = context.user_id or "", context.channel_id or ""
    thread = _thread_of(body)
    question = open_question(deps, action.get("value"), context)
    if question is None:
        ephemeral(context.client, channel, user, CLOSED, thread)
    elif user != question.requester:
        ephemeral(
            context.client, channel, user, NOT_YOURS.format(requester=question.requester), thread
        )
        return None
    return question


def open_form(deps: ListenerDeps) -> Callable[..., None]:
    def answer(action: dict, body: dict, context: BoltContext) -> None:
        question = _question(deps, action, body, context)
        if question is None:
            return
        view = modal(question.id, question.server, question.message, question.schema)
        try:
            context.client.views_open(trigger_id=body.get("trigger_id"), view=view)
        except Exception as exc:  # the button stays: the person can click again
            log.warning("could not open the form of question %s: %s", question.id, exc)

    return answer


def reply_with(kind: Literal["accept", "decline"]) -> Callable[[ListenerDeps], Callable[..., None]]:
    """The listener of a click that is the reply itself: Open (accept) or Decline."""

    def listener(deps: ListenerDeps) -> Callable[..., None]:
        def reply(action: dict, body: dict, context: BoltContext) -> None:
            question = _question(deps, action, body, context)
            if question is None:
                return
            given = Reply(kind, question.requester)
            if not Questions(deps.state).reply(question.id, given):
                channel = context.channel_id or ""
                ephemeral(context.client, channel, given.by, ANSWERED, _thread_of(body))

        return reply

    return listener
