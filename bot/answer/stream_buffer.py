"""Stream buffer: what the model wrote, queued between the model and the stream's flusher.

The model thread adds (`on_event`, Strands' callback handler, which must never block); the
flusher (bot/answer/stream.py) takes at most one message's room at a time. Text is
neutralised as it is queued; a tail that may still become a mention waits for the next
text, a tool call or the end.
"""

from __future__ import annotations

import threading
from typing import Any

from slack_sdk.models.messages.chunk import MarkdownTextChunk, TaskUpdateChunk

from bot.answer.slack_format import neutralise_mentions, release_point


class StreamBuffer:
    def __init__(self, wake: threading.Event) -> None:
        """`wake` is set whenever something is queued."""
        self.streamed = ""  # text Slack has been sent
        self._wake = wake
        self._items: list[str | TaskUpdateChunk] = []  # text and tool updates, in order
        self._held = ""  # the model's latest text that may still become a mention
        self._tools: dict[str, str] = {}
        self._finished: set[str] = set()
        self._paragraph = False
        self._lock = threading.Lock()

    # --- the model side: Strands' callback handler (must never block) -----------------
    def on_event(self, **event: Any) -> None:
        if "data" in event and event["data"]:
            text = event["data"]
            if self._paragraph and (self.streamed or self._items):
                text = "\n\n" + text  # a new assistant message (after a tool call)
            self._paragraph = False
            self.add(text=text)
        elif "current_tool_use" in event:
            tool = event["current_tool_use"] or {}
            tool_id, name = tool.get("toolUseId"), tool.get("name")
            if tool_id and name and tool_id not in self._tools:
                self._tools[tool_id] = name = neutralise_mentions(name)
                self.add(chunk=TaskUpdateChunk(id=tool_id, title=name, status="in_progress"))
        elif "message" in event:
            self._on_message(event["message"])

    def _on_message(self, message: dict[str, Any]) -> None:
        for block in message.get("content", []):
            result = block.get("toolResult")
            if result and result.get("toolUseId") in self._tools.keys() - self._finished:
                status = "complete" if result.get("status") == "success" else "error"
                tool_id = result["toolUseId"]
                self._finished.add(tool_id)
                self.add(
                    chunk=TaskUpdateChunk(id=tool_id, title=self._tools[tool_id], status=status)
                )
        if message.get("role") == "assistant" and any("text" in b for b in message["content"]):
            self._paragraph = True

    def so_far(self) -> str:
        """Everything the model wrote so far, sent to Slack or not."""
        with self._lock:
            pending = "".join(i for i in self._items if isinstance(i, str))
            return (self.streamed + pending + neutralise_mentions(self._held)).strip()

    def add(
        self, text: str = "", chunk: TaskUpdateChunk | None = None, final: bool = False
    ) -> None:
        """Queue text (neutralised; a tail that may still become a mention waits for the
        next text, a tool call or the end: `final`) and a tool update for the flusher."""
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
