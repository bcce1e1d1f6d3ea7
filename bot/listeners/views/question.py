"""The form of a tool's question, submitted (bot/answer/question_form.py).

Its values are checked against the question's schema within the ack: a mistake is shown
beside its field and the form stays open; a good answer is given to the waiting tool call
(the first reply wins) and the form closes. A question that closed meanwhile (timed out,
declined, its process gone) says so in place of the form.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, BoltContext

from bot.answer.question_form import read
from bot.listeners.deps import ListenerDeps
from bot.slack.payloads import installation_id
from bot.store.questions import Questions, Reply

log = logging.getLogger(__name__)


def _notice(text: str) -> dict[str, Any]:
    """A modal that only says `text` (in place of the form)."""
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Question"},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
    }


def submit(deps: ListenerDeps) -> Callable[..., None]:
    def answer(ack: Ack, view: dict, context: BoltContext) -> None:
        questions, user = Questions(deps.state), context.user_id or ""
        question = questions.find(str(view.get("private_metadata") or ""))
        if question is None or question.team != installation_id(context):
            ack(
                response_action="update",
                view=_notice("This question is closed: the tool no longer waits for an answer."),
            )
            return
        if user != question.requester:
            ack(
                response_action="update",
                view=_notice(f"Only <@{question.requester}> can answer this question."),
            )
            return
        content, errors = read(question.schema, (view.get("state") or {}).get("values") or {})
        if errors:
            ack(response_action="errors", errors=errors)
            return
        if not questions.reply(question.id, Reply("accept", user, content)):
            ack(response_action="update", view=_notice("This question already has an answer."))
            return
        ack()
        log.info("question %s answered by %s", question.id, user)

    return answer
