"""Approve / Deny / Always in this thread, on an approval request (bot/answer/approval_message.py).

Only the person who asked, or one of APPROVERS, decides: anyone else is told so privately
and nothing happens. A decision is queued as a `resume` job in the thread (durably, like a
message), so whichever process takes it resumes the turn; a second click, or a click on a
request already decided or expired, changes nothing there (bot/turns/approval_turns.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from redis.exceptions import RedisError
from slack_bolt import Ack, BoltContext

from bot.answer.approval_message import ACTIONS, Click, parse_click
from bot.answer.reply import ephemeral
from bot.jobs import Job
from bot.listeners.deps import ListenerDeps
from bot.slack.payloads import installation_id

log = logging.getLogger(__name__)
REFUSED = "Only <@{requester}> (who asked) or an approver can decide this request."


def may_decide(deps: ListenerDeps, click: Click, user: str) -> bool:
    return bool(user) and (user == click.requester or user in deps.approvers)


def handler(deps: ListenerDeps) -> Callable[..., None]:
    def decide(ack: Ack, action: dict, body: dict, context: BoltContext) -> None:
        ack()
        click, user = parse_click(action.get("value")), context.user_id or ""
        if click is None or click.team != installation_id(context):
            log.debug("ignored an approval click without a request of ours")
            return
        if not may_decide(deps, click, user):
            log.info(
                "%s may not decide approval %s (asked by %s)", user, click.key, click.requester
            )
            return
        message = (body.get("container") or {}).get("message_ts") or ""
        job = Job(
            kind="resume",
            team=click.team,
            channel=click.channel,
            thread_ts=click.thread_ts,
            ts=str(action.get("action_ts") or body.get("action_ts") or ""),
            user=click.requester,  # the answer is for them, whoever decides
            decided_by=user,
            text=ACTIONS[action["action_id"]],
            persona=click.persona,
            reply_in_thread=click.in_thread,
            approval=click.key,
            approval_message=str(message),
        )
        try:
            deps.intake.accept(deps.slack.bind(job, context))
        except RedisError as exc:  # the buttons stay: the person can click again
            log.warning("could not queue the decision on approval %s: %s", click.key, exc)

    return decide


def refuse(deps: ListenerDeps) -> Callable[..., None]:
    def tell(action: dict, context: BoltContext) -> None:
        click, user = parse_click(action.get("value")), context.user_id or ""
        if click is None or may_decide(deps, click, user) or not context.channel_id:
            return
        thread = click.thread_ts if click.in_thread else None
        text = REFUSED.format(requester=click.requester)
        ephemeral(context.client, context.channel_id, user, text, thread)

    return tell
