"""Stream: an answer appears in the thread while the model writes it.

The model thread only buffers (`on_event`, Strands' callback handler); a flusher thread sends
the buffer to Slack every `interval` seconds through slack_sdk's `chat_stream` helper
(chat.startStream / appendStream / stopStream), so Slack latency never slows the model and
a long answer costs a few calls per second at most. Tool calls show as `task_update` chunks.

The stream is a preview, with a Stop button. The answer that counts is the one the turn
stores, and delivery (bot/reply.py) makes the message show exactly that: stopStream ends
the stream, then chat.update on the same message sets the stored answer, 👍/👎 in place of
the Stop button, then follow-up parts for what one message cannot hold. The stream's ts
is kept in shared state until delivery, so a turn replayed after a crash replaces its
half-streamed message instead of posting a second copy.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.models.messages.chunk import BlocksChunk, MarkdownTextChunk, TaskUpdateChunk

from bot import metrics
from bot.jobs import Job
from bot.stop import clear_stop, stop_block, stop_requested
from bot.store.state import State

log = logging.getLogger(__name__)
MAX_CALL_CHARS = 12_000  # Slack's limit for markdown_text in one call
MESSAGE_CHARS = 12_000  # what one streamed message carries; the rest follows as posts
STREAM_TTL_SECONDS = 24 * 3600
# The workspace or channel cannot stream: remember it for this process, post instead.
REFUSALS = {"not_allowed", "not_authed", "missing_scope", "unknown_method", "not_supported",
            "feature_not_enabled", "method_not_supported_for_channel_type", "team_not_allowed",
            "invalid_arguments", "channel_type_not_supported"}


def stream_key(job: Job) -> str:
    return f"stream:{job.session_id}:{job.ts}"


class AnswerStream:
    def __init__(self, client: WebClient, state: State, job: Job, identity: dict[str, str],
                 refused: set[str], interval: float = 0.25, recipient_team: str = "") -> None:
        """`refused`: workspaces that refused streaming (kept by the caller for the process)."""
        self.refused = refused
        self.client, self.state, self.job, self.identity = client, state, job, identity
        self.interval = interval
        self.recipient_team = recipient_team or job.team
        self.on_stop: Callable[[], None] | None = None
        self.stopped = False
        self.streamed = ""  # text Slack has been sent
        self.ts: str | None = state.fact(stream_key(job))  # a crashed attempt's message
        self._items: list[str | TaskUpdateChunk] = []  # text and tool updates, in order
        self._tools: dict[str, str] = {}
        self._finished: set[str] = set()
        self._paragraph = False
        self.live = False  # Slack accepts appends to self.ts
        # An earlier attempt's message cannot be streamed into again: it is updated at the end.
        self._dead = self.ts is not None or job.team in refused
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stream", daemon=True)

    @classmethod
    def possible(cls, job: Job) -> bool:
        """Streams need a thread to stream into (a DM's top level has none)."""
        return job.reply_thread_ts is not None

    # --- the model side: Strands' callback handler (must never block) -----------------
    def on_event(self, **event: Any) -> None:
        if "data" in event and event["data"]:
            text = event["data"]
            if self._paragraph and (self.streamed or self._items):
                text = "\n\n" + text  # a new assistant message (after a tool call)
            self._paragraph = False
            self._add(text=text)
        elif "current_tool_use" in event:
            tool = event["current_tool_use"] or {}
            tool_id, name = tool.get("toolUseId"), tool.get("name")
            if tool_id and name and tool_id not in self._tools:
                self._tools[tool_id] = name
                self._add(chunk=TaskUpdateChunk(id=tool_id, title=name, status="in_progress"))
        elif "message" in event:
            self._on_message(event["message"])

    def _on_message(self, message: dict[str, Any]) -> None:
        for block in message.get("content", []):
            result = block.get("toolResult")
            if result and result.get("toolUseId") in self._tools.keys() - self._finished:
                status = "complete" if result.get("status") == "success" else "error"
                tool_id = result["toolUseId"]
                self._finished.add(tool_id)
                self._add(chunk=TaskUpdateChunk(id=tool_id, title=self._tools[tool_id],
                                                status=status))
        if message.get("role") == "assistant" and any("text" in b for b in message["content"]):
            self._paragraph = True

    def so_far(self) -> str:
        with self._lock:
            return (self.streamed + "".join(i for i in self._items if isinstance(i, str))).strip()

    def _add(self, text: str = "", chunk: TaskUpdateChunk | None = None) -> None:
        with self._lock:
            if text and self._items and isinstance(self._items[-1], str):
                self._items[-1] += text
            elif text:
                self._items.append(text)
            if chunk is not None:
                self._items.append(chunk)
        self._wake.set()

    # --- the flusher -------------------------------------------------------------------
    def start(self) -> AnswerStream:
        clear_stop(self.state, self.job.session_id)
        self._thread.start()
        return self

    def _run(self) -> None:
        stream = None
        while not self._done.is_set():
            self._wake.wait(self.interval)
            if self.ts is not None:  # the first text goes out at once; then batch
                self._done.wait(self.interval)
            self._wake.clear()
            self._check_stop()
            stream = self._flush(stream)
        self._stream = stream

    def _check_stop(self) -> None:
        if self.stopped or self.on_stop is None:
            return
        try:
            wanted = stop_requested(self.state, self.job.session_id, [self.job.ts])
        except Exception:  # a stop request is best effort; the turn goes on
            return
        if wanted:
            self.stopped = True
            log.info("session %s: stop requested", self.job.session_id)
            self.on_stop()

    def _take(self) -> tuple[list[Any], str]:
        """The next call's chunks (within one message's and one call's size) and their text."""
        with self._lock:
            room = min(MESSAGE_CHARS - len(self.streamed), MAX_CALL_CHARS)
            chunks: list[Any] = []
            text = ""
            while self._items:
                item = self._items[0]
                if isinstance(item, str):
                    if room - len(text) <= 0:
                        break
                    part = item[:room - len(text)]
                    rest = item[len(part):]
                    if rest:
                        self._items[0] = rest
                    else:
                        self._items.pop(0)
                    text += part
                    chunks.append(MarkdownTextChunk(text=part))
                else:
                    chunks.append(self._items.pop(0))
            return chunks, text

    def _flush(self, stream: Any) -> Any:
        while not self._dead:
            chunks, text = self._take()
            if not chunks:
                return stream
            try:
                if stream is None:
                    stream = self._open()
                    button = stop_block(self.job.session_id, self.job.ts)
                    chunks = [BlocksChunk(blocks=[button]), *chunks]
                stream.append(chunks=chunks)
                if text and not self.streamed:
                    metrics.first_text(self.job)
                self.streamed += text
            except (SlackApiError, SlackRequestError) as exc:
                self._on_failure(exc)
        return stream

    def _open(self) -> Any:
        stream = self.client.chat_stream(
            channel=self.job.channel, thread_ts=self.job.reply_thread_ts, buffer_size=1,
            recipient_user_id=self.job.user or None, recipient_team_id=self.recipient_team,
            task_display_mode="timeline", **self.identity,
        )
        return _Remembered(stream, self)

    def _remember(self, ts: str) -> None:
        self.ts, self.live = ts, True
        self.state.set_fact(stream_key(self.job), ts, ttl=STREAM_TTL_SECONDS)

    def _on_failure(self, exc: Exception) -> None:
        error = exc.response.get("error", "") if isinstance(exc, SlackApiError) else str(exc)
        self._dead = True
        if self.ts is None and error in REFUSALS:
            self.refused.add(self.job.team)
        log.warning("session %s: streaming stopped (%s); the answer will be completed "
                    "another way", self.job.session_id, error)
        self.live = False

    # --- the end -------------------------------------------------------------------------
    def close(self) -> Any:
        """Stop the flusher after a last flush; the slack_sdk stream (or None)."""
        self._done.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        if not self._thread.is_alive():
            # Nothing to stop any more. on_stop holds the turn's agent, whose callback
            # handler is on_event: without this the agent lives until a cyclic collection.
            self.on_stop = None
        stream = getattr(self, "_stream", None)
        return self._flush(stream)


class _Remembered:
    """slack_sdk's ChatStream, recording its ts in shared state as soon as Slack gives one."""

    def __init__(self, stream: Any, owner: AnswerStream) -> None:
        self.stream = stream
        self._owner = weakref.ref(owner)  # the owner keeps this: no cycle, freed with the turn

    def append(self, **kwargs: Any) -> Any:
        response = self.stream.append(**kwargs)
        owner = self._owner()
        if owner is not None and owner.ts is None and self.stream.ts:
            owner._remember(self.stream.ts)
        return response

    def stop(self, **kwargs: Any) -> Any:
        return self.stream.stop(**kwargs)


__all__ = ["AnswerStream", "stream_key"]
