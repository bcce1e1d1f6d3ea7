"""Stream buffer: what the model wrote, queued between the model and the stream's flusher.

The model thread adds (`on_event`, Strands' callback handler, which must never block); the
flusher (bot/answer/stream.py) takes at most one message's room at a time. Text is
neutralised as it is queued; a tail that may still become a mention waits for the next
text, a tool call or the end. A tool call is queued as a task card in progress; its result
completes it, with the pages the result cites as the card's `sources` (bot/answer/sources.py).
"""

from __future__ import annotations

import threading
from typing import Any, Literal

from slack_sdk.models.messages.chunk import MarkdownTextChunk, PlanUpdateChunk, TaskUpdateChunk

from bot.answer.slack_format import neutralise_mentions, release_point
from bot.answer.sources import CHUNK_TEXT_MAX, clip, sources_in

# A task card's status (the task_update chunk's `status`, slack_sdk.models.messages.chunk).
Update = TaskUpdateChunk | PlanUpdateChunk  # what is queued besides text
TaskStatus = Literal["pending", "in_progress", "complete", "error"]


def task_update(
    tool_id: str, title: str, status: TaskStatus, sources: list[dict[str, str]] | None = None
) -> TaskUpdateChunk:
    """A task card's update; its text (the title) within the chunk's 256 characters."""
    return TaskUpdateChunk(
        id=tool_id, title=clip(title, CHUNK_TEXT_MAX), status=status, sources=sources or None
    )


class StreamBuffer:
    def __init__(self, wake: threading.Event) -> None:
        """`wake` is set whenever something is queued."""
        self.streamed = ""  # text Slack has been sent
        self._wake = wake
        self._items: list[str | Update] = []  # text, tool and plan updates, in order
        self._held = ""  # the model's latest text that may still become a mention
        self._tools: dict[str, str] = {}
        self._finished: set[str] = set()
        self._paragraph = False
        self._lock = threading.Lock()
        self.tools_first = 0  # tool calls queued before any text (the display mode's cue)
        self.wrote = False  # the model has written text

    # --- the model side: Strands' callback handler (must never block) -----------------
    def on_event(self, **event: Any) -> None:
        if "data" in event and event["data"]:
            text = event["data"]
            if self._paragraph and (self.streamed or self._items):
                text = "\n\n" + text  # a new assistant message (after a tool call)
            self._paragraph = False
            self.wrote = True
            self.add(text=text)
        elif "current_tool_use" in event:
            tool = event["current_tool_use"] or {}
            tool_id, name = tool.get("toolUseId"), tool.get("name")
            if tool_id and name and tool_id not in self._tools:
                self._tools[tool_id] = name = neutralise_mentions(name)
                self.tools_first += not self.wrote
                self.add(chunk=task_update(tool_id, name, "in_progress"))
        elif "message" in event:
            self._on_message(event["message"])

    def _on_message(self, message: dict[str, Any]) -> None:
        for block in message.get("content", []):
            result = block.get("toolResult")
            if result and result.get("toolUseId") in self._tools.keys() - self._finished:
                tool_id = result["toolUseId"]
                self._finished.add(tool_id)
                if result.get("status") == "success":
                    cited = [s.element() for s in sources_in(result.get("content") or [])]
                    self.add(chunk=task_update(tool_id, self._tools[tool_id], "complete", cited))
                else:
                    self.add(chunk=task_update(tool_id, self._tools[tool_id], "error"))
        if message.get("role") == "assistant" and any("text" in b for b in message["content"]):
            self._paragraph = True

    def finish_tasks(self, status: TaskStatus) -> None:
        """Queue `status` for every task card still in progress (the model is done: a tool
        call it was cancelled in, or failed in, never gets its result)."""
        for tool_id in [t for t in self._tools if t not in self._finished]:
            self._finished.add(tool_id)
            self.add(chunk=task_update(tool_id, self._tools[tool_id], status))

    def so_far(self) -> str:
        """Everything the model wrote so far, sent to Slack or not."""
        with self._lock:
            pending = "".join(i for i in self._items if isinstance(i, str))
            return (self.streamed + pending + neutralise_mentions(self._held)).strip()

    def add(self, text: str = "", chunk: Update | None = None, final: bool = False) -> None:
        """Queue text (neutralised; a tail that may still become a mention waits for the
        next text, a tool call or the end: `final`) and a tool or plan update for the flusher."""
        with self._lock:
            held = self._held + text
            cut = len(held) if chunk is not None or final else release_point(held)
            text, self._held = neutralise_mentions(held[:cut]), held[cut:]
            if text and self._items and isinstance(self._items[-1], str):
                self._items[-1] += text
            elif text:
                self._items.append(text)
            if chunk is not None:
                self._items.append(chunk)
        self._wake.set()

    # --- the flusher side --------------------------------------------------------------
    def pending(self) -> bool:
        with self._lock:
            return bool(self._items)

    def take(self, room: int) -> tuple[list[Any], str, bool]:
        """The next call's chunks (at most `room` characters of text), their text, and
        whether the message is full (text is left that it cannot hold: it was cut at a
        line break, or a space, so each message reads on its own)."""
        with self._lock:
            chunks: list[Any] = []
            text = ""
            while self._items:
                item = self._items[0]
                if isinstance(item, str):
                    space = room - len(text)
                    if len(item) > space:
                        cut = self._cut(item, space)
                        chunks += [MarkdownTextChunk(text=cut)] if cut else []
                        return chunks, text + cut, True
                    self._items.pop(0)
                    text += item
                    chunks.append(MarkdownTextChunk(text=item))
                else:
                    chunks.append(self._items.pop(0))
            return chunks, text, False

    def _cut(self, item: str, space: int) -> str:
        """Take what fits of the text `item` (the first of the items), up to a break."""
        newline = item.rfind("\n", 0, space)
        cut = newline + 1 if newline > space // 2 else item.rfind(" ", 0, space) + 1 or space
        self._items[0] = item[cut:]
        return item[:cut]
