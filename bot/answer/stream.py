"""Stream: an answer appears in the thread while the model writes it.

The model thread only buffers (`on_event`, Strands' callback handler, into
bot/answer/stream_buffer.py); a flusher thread sends the buffer to Slack every `interval`
seconds through slack_sdk's `chat_stream` helper (chat.startStream / appendStream), so
Slack latency never slows the model. Tool calls show as `task_update` chunks, as a
timeline or, for a turn of several tool calls, a plan (bot/answer/stream_display.py).

A streamed message is a preview (with our Stop button where Slack shows none); the answer
that counts is the one the turn stores, and delivery (bot/answer/message.py,
bot/answer/reply.py) makes each message show exactly that. A long answer streams into
several messages ("segments"): one holds at most PART_CHARS, and a stream is rolled over
before Slack's stream lifetime (about 5 minutes) ends it. Each message's ts is kept in
shared state and noted in the durable inbox as soon as Slack gives it, so a later attempt
(after a crash, or after Redis lost its keys) finishes those messages instead of leaving
them streaming beside a second copy.

A failure never ends the flusher and never starts a second stream for the same text: the
answer stops streaming and is completed by delivery.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.messages.chunk import BlocksChunk

from bot.answer.slack_format import PART_CHARS
from bot.answer.stop import clear_stop, stop_block, stop_requested
from bot.answer.stream_buffer import StreamBuffer
from bot.answer.stream_display import Display
from bot.answer.stream_messages import (
    ENDED,
    Message,
    earlier_messages,
    remember_messages,
    stop_quietly,
)
from bot.jobs import Job
from bot.obs import metrics
from bot.slack.budget import Method, SlackBudget
from bot.store.inbox import Inbox
from bot.store.state import Facts

log = logging.getLogger(__name__)
ROLLOVER_SECONDS = 240.0  # Slack ends a stream after about 300 s (python-slack-sdk#1859)
# The workspace or channel cannot stream: remember it for this process, post instead.
REFUSALS = {
    "not_allowed",
    "not_authed",
    "missing_scope",
    "unknown_method",
    "not_supported",
    "feature_not_enabled",
    "method_not_supported_for_channel_type",
    "team_not_allowed",
    "invalid_arguments",
    "channel_type_not_supported",
    "messages_tab_disabled",
}


class AnswerStream:
    def __init__(
        self,
        client: WebClient,
        state: Facts,
        job: Job,
        identity: dict[str, str],
        refused: set[str],
        interval: float = 0.25,
        recipient_team: str = "",
        budget: SlackBudget | None = None,
        inbox: Inbox | None = None,
        maybe_earlier: bool = False,
        stop_button: bool = True,
    ) -> None:
        """`refused`: workspaces that refused streaming (kept by the caller for the process);
        `maybe_earlier`: an earlier attempt at this job may have left messages; `stop_button`:
        the messages carry our Stop button (not where Slack's agent session shows its own)."""
        self.refused, self.budget, self.inbox = refused, budget, inbox
        self.client, self.state, self.job, self.identity = client, state, job, identity
        self.interval, self.stop_button = interval, stop_button
        self.recipient_team = recipient_team or job.team
        self.on_stop: Callable[[], None] | None = None
        self.stopped = False
        self.messages = [Message(ts) for ts in earlier_messages(state, inbox, job, maybe_earlier)]
        # An earlier attempt's messages cannot be streamed into again: delivery updates them.
        self._dead = bool(self.messages) or job.team in refused
        self._wake = threading.Event()
        self.buffer = StreamBuffer(self._wake)  # what the model wrote, not yet sent
        self.display = Display(self.buffer)  # timeline or plan, and the plan's titles
        self._closing = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stream", daemon=True)

    @classmethod
    def possible(cls, job: Job) -> bool:
        """Streams need a thread to stream into (a DM's top level has none)."""
        return job.reply_thread_ts is not None

    # --- the model side: Strands' callback handler (must never block) -----------------
    def on_event(self, **event: Any) -> None:
        self.buffer.on_event(**event)

    def so_far(self) -> str:
        """Everything the model wrote so far, sent to Slack or not."""
        return self.buffer.so_far()

    @property
    def streamed(self) -> str:
        """The text Slack has been sent."""
        return self.buffer.streamed

    # --- the flusher -------------------------------------------------------------------
    def start(self) -> AnswerStream:
        clear_stop(self.state, self.job.session_id)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._done.is_set():
            self._wake.wait(self.interval)
            if self.messages:  # the first text goes out at once; then batch
                self._done.wait(self.interval)
            self._wake.clear()
            self._check_stop()
            self._flush()

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

    def _flush(self) -> None:
        if not self.messages and self.display.hold(self._closing):
            return  # the display mode waits for a second tool call (bounded)
        while not self._dead and self.buffer.pending():
            message = self._message_for_next()
            if message is None:
                return
            if message.stream is not None and not self._allowed("chat.appendStream"):
                return  # the workspace's appends are spent: the text waits for the next flush
            chunks, text, full = self.buffer.take(PART_CHARS - len(message.text))
            message.full = full
            if not chunks and full:
                continue
            if not chunks:
                return
            try:
                self._send(message, chunks)
            except Exception as exc:  # a network error as much as a Slack one
                self._on_failure(message, exc)
                return
            if text and not self.streamed:
                metrics.first_text(self.job)
            message.text += text
            self.buffer.streamed += text

    def _allowed(self, method: Method) -> bool:
        return self.budget is None or self.budget.allow(self.job.team, method)

    def _message_for_next(self) -> Message | None:
        """The message to stream into: the current one, or a new one when it is full or
        about to outlive Slack's stream lifetime. None: stop streaming this answer."""
        current = self.messages[-1] if self.messages else None
        if (
            current is not None
            and current.stream is not None
            and not current.full
            and (time.monotonic() - current.opened < ROLLOVER_SECONDS)
        ):
            return current
        if current is not None:
            self._end(current)
        if not self._allowed("chat.startStream"):
            log.info(
                "session %s: the workspace's stream starts are spent; the answer is "
                "posted when done",
                self.job.session_id,
            )
            self._dead = True
            return None
        return Message(ts="", opened=time.monotonic())

    def _send(self, message: Message, chunks: list[Any]) -> None:
        if message.stream is None:  # a new message: slack_sdk's helper starts the stream
            thread_ts = self.job.reply_thread_ts
            assert thread_ts is not None  # only answers in threads stream (possible())
            message.stream = self.client.chat_stream(
                channel=self.job.channel,
                thread_ts=thread_ts,
                buffer_size=1,
                recipient_user_id=self.job.user or None,
                recipient_team_id=self.recipient_team,
                task_display_mode=self.display.choose(),
                **self.identity,
            )
            stop = stop_block(self.job.session_id, self.job.ts)
            ours = [BlocksChunk(blocks=[stop])] if self.stop_button else []
            chunks = [*ours, *self.display.opening(), *chunks]
            self.messages.append(message)
        message.stream.append(chunks=chunks)
        if not message.ts and message.stream.ts:
            message.ts = str(message.stream.ts)
            remember_messages(
                self.state, self.inbox, self.job, [m.ts for m in self.messages if m.ts]
            )

    def _end(self, message: Message) -> None:
        """Stop streaming into `message` (full, or about to expire); delivery finishes it."""
        message.stream = None
        ending = self.display.ending(continued=True)
        message.live = not stop_quietly(self.client, self.job.channel, message.ts, ending)

    def _on_failure(self, message: Message, exc: Exception) -> None:
        error = exc.response.get("error", "") if isinstance(exc, SlackApiError) else repr(exc)
        self._dead = True
        if not message.ts:  # the start failed: no message (or one we cannot know) exists
            if message in self.messages:
                self.messages.remove(message)
            if error in REFUSALS:
                self.refused.add(self.job.team)
        elif error in ENDED:
            message.live = False
        message.stream = None
        log.warning(
            "session %s: streaming stopped (%s); the answer will be completed another way",
            self.job.session_id,
            error,
        )

    # --- the end -------------------------------------------------------------------------
    def succeeded(self) -> None:
        """The answer is being delivered: the plan's title is how long it worked (else
        "Stopped" or "Error")."""
        self.display.outcome = "done"

    def close(self) -> None:
        """Stop the flusher after a last flush: no task card is left in progress and a plan
        shows the outcome. Idempotent; the messages stay for delivery."""
        if not self._closing:
            self._closing = True
            if self.stopped:
                self.display.outcome = "stopped"
            self.buffer.finish_tasks(self.display.left_open())
            if self.messages or self.buffer.pending():  # a stream shows (or is to start)
                self.display.choose()  # (no-op once the first message chose it)
                for update in self.display.ending():
                    self.buffer.add(chunk=update)
        self.buffer.add(final=True)  # the model is done: release what was held back
        self._done.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        if not self._thread.is_alive():
            # Nothing to stop any more. on_stop holds the turn's agent, whose callback
            # handler is on_event: without this the agent lives until a cyclic collection.
            self.on_stop = None
            self._flush()
            for message in self.messages:
                message.stream = None


__all__ = ["AnswerStream"]
