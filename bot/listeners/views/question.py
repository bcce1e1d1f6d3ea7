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
from bot.listeners.actions.question import ANSWERED, CLOSED, NOT_YOURS, open_question
from bot.listeners.deps import ListenerDeps
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
        question = open_question(deps, view.get("private_metadata"), context)
        if question is None:
            ack(response_action="update", view=_notice(CLOSED))
            return
        if user != question.requester:
            ack(
                response_action="update",
                view=_notice(NOT_YOURS.format(requester=question.requester)),
            )
            return
        content, errors = read(question.schema, (view.get("state") or {}).get("values") or {})
        if errors:
            ack(response_action="errors", errors=errors)
            return
        if not questions.reply(question.id, Reply("accept", user, content)):
            ack(response_action="update", view=_notice(ANSWERED))
            return
        ack()
        log.info("question %s answered by %s", question.id, user)

    return answer
