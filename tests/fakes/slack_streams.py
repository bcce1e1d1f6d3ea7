"""The fake Web API's streaming messages: chat.startStream / appendStream / stopStream, with
the states and errors their references document (docs.slack.dev/reference/methods/chat.
startStream, .appendStream, .stopStream).

A stream's message is kept as Slack shows it: a `rich_text` block holding the streamed
markdown (the raw markdown is kept too, in `markdown` and, until chat.update changes it,
`text`), then the blocks that came in `blocks` chunks, then chat.stopStream's `blocks`
("rendered after anything passed via `chunks` or `markdown_text`", stopStream reference).

Its task cards are kept too, as the user sees them: `tasks` (task id -> the card: title,
status, details, output, sources; a later `task_update` of the same id changes the fields it
gives), `plan_title` (the last `plan_update`) and the `task_display_mode` it started with.
The fake keeps them after chat.update, which does not document touching a stream's chunks.
"""

from __future__ import annotations

import time
from typing import Any

from .slack_messages import MessageStore
from .slack_rules import (
    Refused,
    check_stream_call,
    decode,
    is_given,
    message_blocks,
    require,
    stream_mode,
    streamed_markdown,
)

# Slack ends a stream left open about five minutes (slackapi/python-slack-sdk issue #1859:
# appends fail with `message_not_in_streaming_state` after ~5 minutes).
STREAM_LIFETIME = 300.0


def rich_text(markdown: str) -> dict[str, Any]:
    return {
        "type": "rich_text",
        "elements": [
            {"type": "rich_text_section", "elements": [{"type": "text", "text": markdown}]}
        ],
    }


def compose_blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = [rich_text(message["markdown"])] if message["markdown"] else []
    blocks += [b for c in message["chunks"] if c["type"] == "blocks" for b in c["blocks"]]
    return blocks + list(message.get("stop_blocks") or [])


def apply_tasks(message: dict[str, Any], chunks: list[dict[str, Any]]) -> None:
    """The task cards and plan title after `chunks` (see the module)."""
    tasks = message.setdefault("tasks", {})
    for chunk in chunks:
        if chunk["type"] == "task_update":
            card = tasks.setdefault(chunk["id"], {"id": chunk["id"]})
            card.update(
                {
                    k: chunk[k]
                    for k in ("title", "status", "details", "output", "sources")
                    if chunk.get(k) is not None
                }
            )
        elif chunk["type"] == "plan_update":
            message["plan_title"] = chunk["title"]


class StreamingMessages:
    def __init__(
        self, store: MessageStore | None = None, lifetime: float = STREAM_LIFETIME
    ) -> None:
        self.store = store if store is not None else MessageStore()
        self.lifetime = lifetime
        self.messages: dict[str, dict[str, Any]] = {}  # ts -> message (the store's dict)
        self.refusal: str | None = None  # startStream answers this error while set

    def refresh(self) -> None:
        """Expire, lazily, every stream open longer than `lifetime` (by its start time)."""
        now = time.monotonic()
        with self.store.lock:
            for message in self.messages.values():
                if message["streaming"] and now - message["started"] >= self.lifetime:
                    self._finish(message)

    def expire(self, ts: str) -> None:
        """What Slack does to a stream left open too long."""
        with self.store.lock:
            self._finish(self.messages[ts])

    def stop_thread(self, channel: str, thread_ts: str) -> list[str]:
        """What Slack's own stop button does to the session's streams: stops those still
        streaming in the thread (agent_session_stopped reference); their ts."""
        with self.store.lock:
            live = [
                m
                for m in self.messages.values()
                if m["streaming"] and m["channel"] == channel and m["thread_ts"] == thread_ts
            ]
            for message in live:
                self._finish(message)
            return [m["ts"] for m in live]

    def text(self, ts: str) -> str:
        with self.store.lock:
            return self.messages[ts]["text"]

    @staticmethod
    def _finish(message: dict[str, Any]) -> None:
        message.update(streaming=False, done_at=time.time())

    def handle(
        self, method: str, params: dict[str, Any], new_ts: str, owner: dict[str, str]
    ) -> dict[str, Any]:
        self.refresh()
        chunks = check_stream_call(method, params)
        if method == "chat.startStream":
            return self._start(params, chunks, new_ts, owner)
        require(params, "channel_not_found", "channel")
        require(params, "message_not_found", "ts")
        stop_blocks = (
            message_blocks(params, "msg_blocks_too_many") if (method == "chat.stopStream") else None
        )
        metadata = decode(params, "metadata", "invalid_metadata_format")
        with self.store.lock:
            message = self.messages.get(str(params["ts"]))
            if message is None or message["channel"] != params["channel"] or message.get("deleted"):
                raise Refused("message_not_found")
            if message["bot_id"] != owner["bot_id"]:
                raise Refused("message_not_owned_by_app")
            if not message["streaming"]:
                raise Refused("message_not_in_streaming_state")
            mode = stream_mode(params)
            if mode is not None and message["mode"] not in (None, mode):
                # "If you started the stream with `markdown_text`, you must append with
                # `markdown_text`. If you started the stream with `chunks`, you must append
                # with `chunks`." (appendStream and stopStream)
                raise Refused("streaming_mode_mismatch")
            message["mode"] = message["mode"] or mode
            added = streamed_markdown(params, chunks)
            message["markdown"] += added
            message["text"] += added
            message["chunks"] += chunks
            apply_tasks(message, chunks)
            if method == "chat.stopStream":
                message["stop_blocks"] = stop_blocks or []
                if metadata:
                    message["metadata"] = metadata
                self._finish(message)
            message["blocks"] = compose_blocks(message)
        return {"ok": True, "channel": params["channel"], "ts": message["ts"]}

    def _start(
        self, params: dict[str, Any], chunks: list[dict[str, Any]], ts: str, owner: dict[str, str]
    ) -> dict[str, Any]:
        if self.refusal:
            raise Refused(self.refusal)
        require(params, "channel_not_found", "channel")
        # `thread_ts` is required: "Streamed messages should always be replies to a user
        # request." (the reference lists no error for it; Slack's generic one)
        require(params, "invalid_arguments", "thread_ts")
        if not str(params["channel"]).startswith("D"):
            # recipient_user_id / recipient_team_id: "Required when streaming to channels."
            for field in ("recipient_user_id", "recipient_team_id"):
                if not is_given(params, field):
                    raise Refused(f"missing_{field}")
        markdown = streamed_markdown(params, chunks)
        message: dict[str, Any] = {
            "type": "message",
            "ts": ts,
            "thread_ts": str(params["thread_ts"]),
            "text": markdown,
            "markdown": markdown,
            "chunks": list(chunks),
            "streaming": True,
            "mode": stream_mode(params),
            "task_display_mode": params.get("task_display_mode"),
            "started": time.monotonic(),
            "channel": str(params["channel"]),
            **owner,
            **{k: params[k] for k in ("username", "icon_emoji", "icon_url") if k in params},
        }
        message["blocks"] = compose_blocks(message)
        apply_tasks(message, chunks)
        with self.store.lock:
            self.messages[ts] = message
            self.store.add(message)
        return {"ok": True, "channel": params["channel"], "ts": ts}
