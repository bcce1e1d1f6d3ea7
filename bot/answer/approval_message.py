"""The approval request in the thread: which tools the model wants to run and with what
arguments (readable, cut, secrets redacted), with Approve / Deny (and "Always in this
thread" where the persona allows it); once decided, who decided and when, without buttons.

Each button's value says which approval it decides (bot/agent/approvals.py `Pending.key`)
and in which thread, so the click can reach any process (bot/listeners/actions/approval.py).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any, Literal

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import ActionsBlock, ButtonElement, ContextBlock, MarkdownTextObject

from bot.answer.slack_format import fallback_text, markdown_block, neutralise_mentions, slack_date
from bot.obs.logs import redact
from bot.store.approvals import Decision, Pending

log = logging.getLogger(__name__)
APPROVE_ACTION, DENY_ACTION, ALWAYS_ACTION = "approval_approve", "approval_deny", "approval_always"
Outcome = Decision | Literal["reset"]  # what a request shows once settled
ACTIONS: dict[str, Decision] = {
    APPROVE_ACTION: "approve",
    DENY_ACTION: "deny",
    ALWAYS_ACTION: "always",
}
_ID = re.compile(r"^[A-Za-z0-9._-]{1,40}$")
_OUTCOME: dict[str, str] = {
    "approve": ":white_check_mark: Approved by <@{by}> {when}",
    "always": ":white_check_mark: Approved for the rest of this thread by <@{by}> {when}",
    "deny": ":no_entry: Denied by <@{by}> {when}; nothing ran",
    "expired": ":hourglass: Expired {when}: nobody decided in time; nothing ran",
    "reset": ":broom: Withdrawn: <@{by}> reset the conversation {when}; nothing ran",
}


@dataclass(frozen=True)
class Click:
    """A decision clicked on an approval request: where, which approval, asked by whom."""

    team: str
    channel: str
    thread_ts: str
    in_thread: bool
    persona: str
    key: str
    requester: str


def request_text(pending: Pending) -> str:
    """The request as Markdown: who is asked, each call and its arguments."""
    lines = [
        f":raised_hand: *Approval needed.* <@{pending.requester}>, I want to run "
        + ("these tools:" if len(pending.calls) > 1 else "this tool:")
    ]
    for call in pending.calls:
        shown = neutralise_mentions(call.shown_arguments(redact)).replace("```", "'''")
        lines.append(f"`{call.tool}` with\n```\n{shown}\n```")
    lines.append("Nothing runs until you decide.")
    return "\n".join(lines)


def click_value(click: Click) -> str:
    return json.dumps(
        {
            "t": click.team,
            "c": click.channel,
            "h": click.thread_ts,
            "i": click.in_thread,
            "p": click.persona,
            "k": click.key,
            "r": click.requester,
        },
        separators=(",", ":"),
    )


def parse_click(value: Any) -> Click | None:
    """The approval a button decides; None if the value is not one of ours."""
    try:
        data = json.loads(value) if isinstance(value, str) else None
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    fields = [data.get(name) for name in ("t", "c", "h", "p", "k", "r")]
    if not all(isinstance(f, str) and _ID.match(f) for f in fields):
        return None
    team, channel, thread_ts, persona, key, requester = fields
    return Click(team, channel, thread_ts, data.get("i") is not False, persona, key, requester)  # type: ignore[arg-type]


def buttons(pending: Pending, click: Click, always: bool) -> dict:
    """The actions block under a pending request."""
    value = click_value(click)
    elements = [
        ButtonElement(text="Approve", action_id=APPROVE_ACTION, value=value, style="primary"),
        ButtonElement(text="Deny", action_id=DENY_ACTION, value=value, style="danger"),
    ]
    if always:
        elements.append(
            ButtonElement(text="Always in this thread", action_id=ALWAYS_ACTION, value=value)
        )
    return ActionsBlock(block_id=f"approval-{pending.key}", elements=elements).to_dict()


def outcome(decision: Outcome, by: str, at: float) -> dict:
    """The context line that replaces the buttons once decided."""
    text = _OUTCOME[decision].format(by=by, when=slack_date(at))
    return ContextBlock(elements=[MarkdownTextObject(text=text)]).to_dict()


def show_decision(
    client: WebClient,
    channel: str,
    ts: str,
    pending: Pending,
    decision: Outcome,
    by: str,
    at: float,
) -> None:
    """Update the request message `ts`: its buttons give way to who decided and when.
    Best effort: the decision stands (and the answer follows) even if Slack refuses."""
    blocks = [markdown_block(request_text(pending)), outcome(decision, by, at)]
    try:
        client.chat_update(
            channel=channel, ts=ts, text=fallback_text(request_text(pending)), blocks=blocks
        )
    except SlackApiError as exc:
        log.warning("could not show the decision on %s: %s", ts, exc.response.get("error"))
