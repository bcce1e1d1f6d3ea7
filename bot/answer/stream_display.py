"""Stream display: how a streamed answer shows its tool calls, timeline or plan.

Slack shows a stream's task cards one of two ways, chosen when the stream starts
(chat.startStream `task_display_mode`, docs.slack.dev/reference/methods/chat.startStream):
"timeline", each card between the text, or "plan", the cards grouped under one title that
`plan_update` chunks change. Slack's guidance (slackapi/slack-skills-plugin,
skills/block-kit/references/agent-progress-design.md) is a plan for multi-step work, whose
title ends as the outcome ("Worked for 12s", "Stopped", "Error"), and no task left in
progress when the stream stops.

So a turn whose model calls two or more tools before writing any text streams as a plan.
The mode cannot change once the stream started, and the first tool call is usually alone
for a moment (the model calls the next one after the first one's result): the stream's
start is held while exactly one tool call is queued and no text came, for at most
HOLD_SECONDS, so that a quick second call still makes it a plan; a slow tool (or a model
that answers after one call) gets a timeline. Text, a second call or the end releases it.
"""

from __future__ import annotations

import time
from typing import Literal

from slack_sdk.models.messages.chunk import PlanUpdateChunk

from bot.answer.sources import CHUNK_TEXT_MAX, clip
from bot.answer.stream_buffer import StreamBuffer, TaskStatus

DisplayMode = Literal["timeline", "plan"]
Outcome = Literal["done", "stopped", "error"]
HOLD_SECONDS = 1.5  # the longest the stream's start waits for a second tool call
WORKING = "Working…"
CONTINUED = "Continued below"  # a plan whose answer went on in another message


class Display:
    """The display mode of one answer's stream, and its plan's titles."""

    def __init__(self, buffer: StreamBuffer) -> None:
        self.buffer = buffer
        self.mode: DisplayMode | None = None  # chosen when the first message starts
        self.outcome: Outcome = "error"  # until the answer is delivered
        self._began = time.monotonic()
        self._held_since: float | None = None

    def hold(self, closing: bool) -> bool:
        """Whether the first message's start should wait (see the module)."""
        if self.mode is not None or closing or self.buffer.wrote:
            return False
        if self.buffer.tools_first != 1:
            return False
        if self._held_since is None:
            self._held_since = time.monotonic()
        return time.monotonic() - self._held_since < HOLD_SECONDS

    def choose(self) -> DisplayMode:
        """The mode of the stream about to start (the first message's choice holds for the
        messages an answer rolls over into)."""
        if self.mode is None:
            self.mode = "plan" if self.buffer.tools_first >= 2 else "timeline"
        return self.mode

    def opening(self) -> list[PlanUpdateChunk]:
        """The chunks a new message starts with: the plan's working title, in plan mode."""
        return [PlanUpdateChunk(title=WORKING)] if self.mode == "plan" else []

    def ending(self, continued: bool = False) -> list[PlanUpdateChunk]:
        """The plan's last title: the outcome (or that the answer goes on below)."""
        if self.mode != "plan":
            return []
        return [PlanUpdateChunk(title=clip(self.title(continued), CHUNK_TEXT_MAX))]

    def title(self, continued: bool = False) -> str:
        """The plan's title once its message stops streaming."""
        if continued:
            return CONTINUED
        if self.outcome == "stopped":
            return "Stopped"
        if self.outcome == "error":
            return "Error"
        return f"Worked for {max(1, round(time.monotonic() - self._began))}s"

    def left_open(self) -> TaskStatus:
        """The status of a task card still in progress when the answer ends."""
        return "complete" if self.outcome == "done" else "error"


__all__ = ["CONTINUED", "HOLD_SECONDS", "WORKING", "Display", "DisplayMode", "Outcome"]
