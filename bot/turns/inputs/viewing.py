"""Viewing context: on a turn in the bot's messages tab (a DM), what the user views in Slack.

The view is the message's own `app_context`, else the user's remembered one
(bot/turns/inputs/app_context.py). Every entity is named; at most one is read, with the
thread reader's client, deadline, 429 pause and name cache (ThreadReader) and the
workspace's Slack budget (bot/slack/budget.py), and only where the bot's scopes reach:

- a message → `conversations.replies` on it: the message, and the first replies if it is a
  thread's parent, as far as the cap holds;
- a channel → `conversations.history`: its latest messages, newest kept within the cap;
- a channel the bot is not in (`not_in_channel`, `channel_not_found`) → named, not read;
- a canvas, a list, a DM → named only (no scope reads canvases or lists; a DM is not the
  bot's).

What is read is other people's words: entries labelled by author, under the same framing
as a thread's earlier messages (bot/turns/inputs/thread_entries.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.jobs import Job
from bot.slack.budget import Method, SlackBudget
from bot.store.state import Facts
from bot.turns.inputs.app_context import EntityKind, remembered, split
from bot.turns.inputs.thread_context import Read, ThreadReader, is_context
from bot.turns.inputs.thread_entries import AUTHORS, QUOTED, within

log = logging.getLogger(__name__)
HEADER = (
    "What the user is viewing in Slack as they ask (Slack's app context; ids are Slack's, "
    "<#C…> shows the channel's name to them):"
)
NOT_MEMBER = "you are not a member of it, so you cannot read it (they can /invite you)"
UNAVAILABLE = "it could not be read just now"
_NOT_IN = frozenset({"not_in_channel", "channel_not_found"})
_Entity = tuple[EntityKind, list[str]]


@dataclass(frozen=True)
class ViewLimits:
    max_chars: int = 4_000  # everything read, with its framing
    channel_messages: int = 10  # a channel's latest (≤ 15: non-Marketplace apps' page)
    replies: int = 4  # of a viewed thread parent, only within max_chars


class ViewingContext:
    """Builds the viewing context of a DM turn; one per conversation."""

    def __init__(
        self, state: Facts, reader: ThreadReader | None, limits: ViewLimits | None = None
    ) -> None:
        self.state, self.reader = state, reader
        self.limits = limits or ViewLimits()
        self.budget = SlackBudget(state)

    def for_turn(self, job: Job, bot_user_id: str, client: WebClient) -> str | None:
        """The text for `job`'s prompt, or None (not a DM turn, or nothing viewed);
        `client`: the job's installation's."""
        if job.kind != "turn" or not job.channel.startswith("D"):
            return None
        view = job.app_context
        if view is None:
            view = remembered(self.state, job.team, job.user)
        entities = [found for entity in view if (found := split(entity))]
        if not entities:
            return None
        target = next((e for e in entities if e[0] == "message" and _readable(e)), None)
        target = target or next((e for e in entities if e[0] == "channel" and _readable(e)), None)
        content = self._read(job, target, bot_user_id, client) if target else None
        lines = [HEADER, *(_named(e, e == target, content) for e in entities)]
        return "\n".join(lines + ([content] if content and content not in _NOTES else []))

    def _read(self, job: Job, target: _Entity, bot_user_id: str, client: WebClient) -> str:
        """The target's content (framed entries), or why it was not read."""
        reader = self.reader
        if reader is None or reader.limits.max_messages <= 0:
            return UNAVAILABLE
        kind, parts = target
        method: Method = "conversations.replies" if kind == "message" else "conversations.history"
        read = reader.start(client)
        if read is None or not self.budget.allow(job.team, method):
            log.info("viewing context of %s not read: rate limited", job.session_id)
            return UNAVAILABLE
        try:
            if kind == "message":
                messages = self._message(reader, read, parts[0], parts[1])
            else:
                messages = self._channel(reader, read, parts[0])
        except SlackApiError as exc:
            if exc.response.get("error") in _NOT_IN:
                return NOT_MEMBER
            reader.failed(exc, f"{method} of {parts[0]}", read)
            return UNAVAILABLE
        except Exception as exc:
            reader.failed(exc, f"{method} of {parts[0]}", read)
            return UNAVAILABLE
        if not messages:
            return "nothing in it could be shown"
        entries = reader.entries(messages, bot_user_id, read)
        return self._framed(kind, entries)

    def _channel(self, reader: ThreadReader, read: Read, channel: str) -> list[dict]:
        page = reader.call(
            read, "conversations.history", channel=channel, limit=self.limits.channel_messages
        )
        found = [m for m in page.get("messages") or [] if isinstance(m, dict) and is_context(m)]
        return list(reversed(found))  # Slack lists them newest first

    def _message(self, reader: ThreadReader, read: Read, channel: str, ts: str) -> list[dict]:
        limit = 1 + self.limits.replies
        page = reader.call(read, "conversations.replies", channel=channel, ts=ts, limit=limit)
        listed = [m for m in page.get("messages") or [] if isinstance(m, dict)]
        viewed = [m for m in listed if m.get("ts") == ts and is_context(m)]
        replies = [
            m for m in listed if m.get("thread_ts") == ts and m.get("ts") != ts and is_context(m)
        ]
        return viewed + replies[: self.limits.replies] if viewed else []

    def _framed(self, kind: EntityKind, entries: list[str]) -> str:
        """Entries under their framing, within max_chars: a channel keeps its newest, a
        message comes first and its replies follow while they fit."""
        what = (
            "The message (then its first replies)" if kind == "message" else "Its latest messages"
        )
        header = f"{what}, oldest first. {AUTHORS}; {QUOTED}:"
        budget = self.limits.max_chars - len(header) - 1
        ordered = entries if kind == "message" else list(reversed(entries))
        shown = within(ordered, budget)
        return "\n".join([header, *(shown if kind == "message" else reversed(shown))])


_NOTES = (NOT_MEMBER, UNAVAILABLE, "nothing in it could be shown")


def _readable(entity: _Entity) -> bool:
    """Public and private channels (and group DMs) the bot may be in; never a DM."""
    return not entity[1][0].startswith("D")


def _named(entity: _Entity, target: bool, content: str | None) -> str:
    """One line naming a viewed entity, and what became of it."""
    kind, parts = entity
    if kind in ("canvas", "list"):
        plural = "canvases" if kind == "canvas" else "lists"
        return f"- a {kind} ({parts[0]}): named only, you cannot read {plural} (no scope for them)"
    where = f"<#{parts[0]}>" if _readable(entity) else f"a direct message ({parts[0]})"
    name = f"a message (ts {parts[1]}) in {where}" if kind == "message" else f"channel {where}"
    if not _readable(entity):
        return f"- {name}: named only, you cannot read it"
    if not target:
        return f"- {name}: named only"
    return f"- {name}: {content if content in _NOTES else 'shown below'}"
