"""Feedback: 👍/👎 buttons under each answer, and the votes they record.

The buttons are Slack's `feedback_buttons` element in a `context_actions` block. Each
button's value names the answer (session id + the ts of the message it answers), the
persona that gave it, and the vote, so a click needs nothing else to be recorded.

Votes count once per user and answer: clicking the same button again changes nothing, and
switching (👍 then 👎) moves that user's vote, so each user counts for exactly one side.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    ContextActionsBlock,
    FeedbackButtonObject,
    FeedbackButtonsElement,
    MarkdownTextObject,
    SectionBlock,
)

from bot.store.facts import FEEDBACK, VOTE, VOTERS
from bot.store.state import Facts

log = logging.getLogger(__name__)
FEEDBACK_ACTION = "answer_feedback"  # action_id of the feedback_buttons element
COUNTS_KEY = FEEDBACK.key()  # state.counts(COUNTS_KEY) -> {"<persona>:up": n, "<persona>:down": n}
THANKS = "Thanks for the feedback!"
SECTION_CHARS = 3_000  # a section block's text limit
VOTES = ("up", "down")
_SESSION = re.compile(r"^[A-Za-z0-9_-]{1,200}$")
_TS = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_PERSONA = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class Vote:
    session_id: str
    for_ts: str  # the ts of the message the answer is for
    persona: str
    vote: str  # "up" or "down"


def _value(session_id: str, for_ts: str, persona_id: str, vote: str) -> str:
    return json.dumps(
        {"s": session_id, "t": for_ts, "p": persona_id, "v": vote}, separators=(",", ":")
    )


def parse_vote(value: Any) -> Vote | None:
    """The vote a feedback button's value carries; None if it is not one of ours."""
    try:
        raw = json.loads(value) if isinstance(value, str) else None
    except ValueError:
        return None
    if not isinstance(raw, dict):
        return None
    fields = [f for f in (raw.get(k) for k in ("s", "t", "p", "v")) if isinstance(f, str)]
    if len(fields) != 4:
        return None
    vote = Vote(*fields)
    if (
        not _SESSION.match(vote.session_id)
        or not _TS.match(vote.for_ts)
        or not _PERSONA.match(vote.persona)
        or vote.vote not in VOTES
    ):
        return None
    return vote


def feedback_actions(session_id: str, for_ts: str, persona_id: str) -> dict[str, Any]:
    """Only the `context_actions` block with the 👍/👎 buttons (e.g. for chat.stopStream)."""
    buttons = FeedbackButtonsElement(
        action_id=FEEDBACK_ACTION,
        positive_button=FeedbackButtonObject(
            text="👍",
            accessibility_label="This answer was helpful",
            value=_value(session_id, for_ts, persona_id, "up"),
        ),
        negative_button=FeedbackButtonObject(
            text="👎",
            accessibility_label="This answer was not helpful",
            value=_value(session_id, for_ts, persona_id, "down"),
        ),
    )
    return ContextActionsBlock(elements=[buttons]).to_dict()  # validates the 2000-char values


def _sections(text: str) -> list[str]:
    """`text` in section-sized pieces, cut at a line break where possible."""
    pieces = []
    while len(text) > SECTION_CHARS:
        cut = text.rfind("\n", 0, SECTION_CHARS)
        cut = cut if cut > SECTION_CHARS // 2 else SECTION_CHARS
        pieces.append(text[:cut])
        text = text[cut:].lstrip("\n")
    return [*pieces, text] if text.strip() else pieces


def feedback_blocks(
    session_id: str, for_ts: str, persona_id: str, text: str
) -> list[dict[str, Any]]:
    """The answer `text` as mrkdwn sections (rendered as the plain `text` would be), then
    the feedback buttons."""
    sections = [
        SectionBlock(text=MarkdownTextObject(text=piece)).to_dict() for piece in _sections(text)
    ]
    return [*sections, feedback_actions(session_id, for_ts, persona_id)]


def record_vote(state: Facts, vote: Vote, user: str) -> str:
    """Count `user`'s vote once per answer; "counted", "changed" or "repeated"."""
    answer = VOTERS.key(vote.session_id, vote.for_ts)
    mine = VOTE.key(vote.session_id, vote.for_ts, user)  # this user's current vote on it
    if state.add_once(answer, user, ttl=VOTERS.ttl):
        previous = None
    else:
        previous = state.fact(mine)
        if previous == vote.vote:
            return "repeated"
    state.set_fact(mine, vote.vote, ttl=VOTE.ttl)
    if previous in VOTES:
        state.count(COUNTS_KEY, f"{vote.persona}:{previous}", -1)
    state.count(COUNTS_KEY, f"{vote.persona}:{vote.vote}")
    return "changed" if previous in VOTES else "counted"
