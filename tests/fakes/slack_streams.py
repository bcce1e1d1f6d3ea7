"""The fake Web API's streaming messages: chat.startStream / appendStream / stopStream and
chat.update, with the errors Slack documents (docs.slack.dev/reference/methods/chat.*Stream):
`missing_recipient_user_id` / `missing_recipient_team_id` outside DMs, a `markdown_text`
over 12,000 characters refused, and `message_not_in_streaming_state` once a stream was
stopped or expired (Slack ends a stream left open about five minutes)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

MAX_MARKDOWN = 12_000


def _texts(params: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    chunks = params.get("chunks") or []
    if isinstance(chunks, str):
        chunks = json.loads(chunks)
    text = params.get("markdown_text") or ""
    text += "".join(c.get("text", "") for c in chunks if c.get("type") == "markdown_text")
    return text, chunks


class StreamingMessages:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.messages: dict[str, dict[str, Any]] = {}  # ts -> message
        self.refusal: str | None = None  # startStream answers this error while set

    def expire(self, ts: str) -> None:
        """What Slack does to a stream left open too long."""
        with self._lock:
            self.messages[ts].update(streaming=False, done_at=time.time())

    def text(self, ts: str) -> str:
        with self._lock:
            return self.messages[ts]["text"]

    def handle(self, method: str, params: dict[str, Any], new_ts: str
               ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """(response, message to add to the channel's history or None)."""
        text, chunks = _texts(params)
        if len(params.get("markdown_text") or "") > MAX_MARKDOWN:
            return {"ok": False, "error": "msg_too_long"}, None
        if method == "chat.startStream":
            return self._start(params, text, chunks, new_ts)
        with self._lock:
            message = self.messages.get(params.get("ts", ""))
            if message is None:
                return {"ok": False, "error": "message_not_found"}, None
            if method == "chat.update":
                message.update(text=params.get("text", ""), streaming=False, done_at=time.time())
                for key in ("blocks", "metadata"):
                    if key in params:
                        message[key] = _decoded(params[key])
                return {"ok": True, "channel": params.get("channel"), "ts": message["ts"]}, None
            if not message["streaming"]:
                return {"ok": False, "error": "message_not_in_streaming_state"}, None
            message["text"] += text
            message["chunks"] += chunks
            if method == "chat.stopStream":
                message.update(streaming=False, done_at=time.time())
                for key in ("blocks", "metadata"):
                    if params.get(key):
                        message[key] = _decoded(params[key])
            return {"ok": True, "channel": params.get("channel"), "ts": message["ts"]}, None

    def _start(self, params: dict[str, Any], text: str, chunks: list[dict[str, Any]],
               ts: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
        if self.refusal:
            return {"ok": False, "error": self.refusal}, None
        if not params.get("thread_ts"):
            return {"ok": False, "error": "invalid_arguments"}, None
        if not str(params.get("channel", "")).startswith("D"):
            for field in ("recipient_user_id", "recipient_team_id"):
                if not params.get(field):
                    return {"ok": False, "error": f"missing_{field}"}, None
        message = {
            "type": "message", "ts": ts, "thread_ts": params["thread_ts"], "text": text,
            "chunks": list(chunks), "streaming": True, "channel": params.get("channel"),
            "user": "UBOT", "bot_id": "BBOT",
            **{k: params[k] for k in ("username", "icon_emoji", "icon_url") if k in params},
        }
        with self._lock:
            self.messages[ts] = message
        return {"ok": True, "channel": params.get("channel"), "ts": ts}, message


def _decoded(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value
