"""👍/👎 under an answer: count the vote once per user and answer, thank the clicker."""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_bolt import Ack, BoltContext

from bot.answer.feedback import THANKS, parse_vote, record_vote
from bot.answer.reply import ephemeral
from bot.jobs import reply_thread_of
from bot.listeners.deps import ListenerDeps
from bot.obs import metrics

log = logging.getLogger(__name__)


def handler(deps: ListenerDeps) -> Callable[..., None]:
    def answer_feedback(ack: Ack, action: dict, context: BoltContext) -> None:
        ack()
        vote, user = parse_vote(action.get("value")), context.user_id
        if vote is None or not user:
            log.debug("ignored a feedback click without a vote of ours or a user")
            return
        outcome = record_vote(deps.state, vote, user)
        metrics.vote(vote.persona, vote.vote, outcome)
        log.info(
            "feedback %s %s on %s (answer to %s, persona %s) by %s",
            vote.vote,
            outcome,
            vote.session_id,
            vote.for_ts,
            vote.persona,
            user,
        )

    return answer_feedback


def thank(deps: ListenerDeps) -> Callable[..., None]:
    def thank_for_feedback(action: dict, context: BoltContext) -> None:
        vote, user, channel = parse_vote(action.get("value")), context.user_id, context.channel_id
        if vote is None or not user or not channel:
            return
        ephemeral(context.client, channel, user, THANKS, reply_thread_of(vote.session_id))

    return thank_for_feedback
