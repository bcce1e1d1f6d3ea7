"""The fake Web API's messages: what the bot posted (chat.postMessage, chat.startStream), as
chat.update / chat.delete / reactions.* change it and conversations.* read it.

A message is a dict: Slack's fields (type, ts, thread_ts, text, blocks, metadata, user,
bot_id, username, ...) plus the fake's own (`channel`, `deleted`, and for streams
`streaming`, `markdown`, `chunks`, ...), which conversations.* leave out.
"""

from __future__ import annotations

import threading
from typing import Any

from .slack_rules import (
    POST_TEXT_TRUNCATE,
    RICH_TEXT_TYPES,
    Refused,
    check_message,
    decode,
    is_given,
    require,
    unfurl_flags,
)

# Fields only the fake keeps; conversations.replies/history do not return them.
INTERNAL = frozenset(
    {
        "channel",
        "deleted",
        "streaming",
        "markdown",
        "chunks",
        "mode",
        "started",
        "stop_blocks",
        "done_at",
        "external",
        "unfurl_links",
        "unfurl_media",
        "tasks",
        "plan_title",
        "task_display_mode",
    }
)


def has_rich_text(blocks: Any) -> bool:
    return isinstance(blocks, list) and any(
        isinstance(b, dict) and b.get("type") in RICH_TEXT_TYPES for b in blocks
    )


def _flag(params: dict[str, Any], key: str) -> bool:
    return str(params.get(key, "")).lower() in ("1", "true")


class MessageStore:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.by_channel: dict[str, list[dict[str, Any]]] = {}
        # (channel, ts) -> {(reaction name, reacting user)}
        self.reactions: dict[tuple[str, str], set[tuple[str, str]]] = {}
        # Channels the bot is not a member of (`leave`): it cannot read them. Everywhere
        # else it is, as in every channel where it was mentioned or added.
        self.outside: set[str] = set()

    def leave(self, channel: str) -> None:
        """The bot is not (or no longer) a member of `channel`."""
        with self.lock:
            self.outside.add(channel)

    def add(self, message: dict[str, Any]) -> None:
        with self.lock:
            self.by_channel.setdefault(message["channel"], []).append(message)

    def find(self, channel: str, ts: str) -> dict[str, Any] | None:
        with self.lock:
            for message in self.by_channel.get(channel, []):
                if message["ts"] == ts and not message.get("deleted"):
                    return message
        return None

    def everything(self) -> list[dict[str, Any]]:
        with self.lock:
            return sorted(
                (m for ms in self.by_channel.values() for m in ms), key=lambda m: float(m["ts"])
            )

    # --- chat.postMessage / chat.update / chat.delete ------------------------
    def post(self, params: dict[str, Any], ts: str, owner: dict[str, str]) -> dict[str, Any]:
        require(params, "channel_not_found", "channel")  # `channel` is required
        blocks = check_message("chat.postMessage", params)
        unfurl = unfurl_flags(params)
        text = str(params.get("text") or params.get("markdown_text") or "")
        if is_given(params, "markdown_text"):  # Slack renders it as a markdown block
            blocks = [{"type": "markdown", "text": text}]
        message: dict[str, Any] = {
            "type": "message",
            "text": text[:POST_TEXT_TRUNCATE],
            "ts": ts,
            **owner,
        }
        if is_given(params, "thread_ts"):
            message["thread_ts"] = str(params["thread_ts"])
        if blocks is not None:
            message["blocks"] = blocks
        metadata = decode(params, "metadata", "invalid_metadata_format")
        if metadata:
            message["metadata"] = metadata
        for key in ("username", "icon_emoji", "icon_url"):
            if key in params:
                message[key] = params[key]
        self.add({**message, **unfurl, "channel": str(params["channel"])})
        return {"ok": True, "channel": params["channel"], "ts": ts, "message": message}

    def _own(self, params: dict[str, Any], owner: dict[str, str], refused: str) -> dict[str, Any]:
        message = self.find(str(params.get("channel", "")), str(params.get("ts", "")))
        if message is None:
            raise Refused("message_not_found")  # "No message exists with the requested ts"
        if message.get("bot_id") != owner["bot_id"]:
            raise Refused(refused)  # "... does not have permission to update/delete"
        return message

    def update(self, params: dict[str, Any], owner: dict[str, str]) -> dict[str, Any]:
        """chat.update as its reference describes it: `blocks` replace the blocks; `text`
        without `blocks` removes them; `metadata` is kept unless given ({} removes it)."""
        require(params, "channel_not_found", "channel")
        require(params, "message_not_found", "ts")
        blocks = check_message("chat.update", params)
        if is_given(params, "markdown_text"):
            blocks = [{"type": "markdown", "text": str(params["markdown_text"])}]
        metadata = decode(params, "metadata", "invalid_metadata_format")
        with self.lock:
            message = self._own(params, owner, "cant_update_message")
            if message.get("streaming"):
                # "The message is currently streaming text and cannot be edited."
                raise Refused("streaming_state_conflict")
            if has_rich_text(message.get("blocks")) and not has_rich_text(blocks):
                # `block_mismatch`: "Rich-text blocks cannot be replaced with non-rich-text
                # blocks". Our inference from that sentence: an update whose new content
                # has no rich-text block (only sections/context/actions, or `text` alone,
                # which removes the blocks) is refused on a message that has one, e.g. a
                # finished stream (rich_text) or a markdown block.
                raise Refused("block_mismatch")
            if blocks is not None:
                message["blocks"] = blocks
            elif is_given(params, "text"):
                message.pop("blocks", None)
            if is_given(params, "text") or is_given(params, "markdown_text"):
                message["text"] = str(params.get("text") or params.get("markdown_text"))
            if metadata == {}:
                message.pop("metadata", None)
            elif metadata is not None:
                message["metadata"] = metadata
            shown = {k: v for k, v in message.items() if k not in INTERNAL}
        return {
            "ok": True,
            "channel": params["channel"],
            "ts": message["ts"],
            "text": message["text"],
            "message": shown,
        }

    def delete(self, params: dict[str, Any], owner: dict[str, str]) -> dict[str, Any]:
        require(params, "channel_not_found", "channel")
        require(params, "message_not_found", "ts")
        with self.lock:
            message = self._own(params, owner, "cant_delete_message")
            message["deleted"] = True
            if message.get("streaming"):
                message["streaming"] = False
        return {"ok": True, "channel": params["channel"], "ts": message["ts"]}

    # --- reactions.add / reactions.remove ----------------------------------
    def react(self, method: str, params: dict[str, Any], owner: dict[str, str]) -> dict[str, Any]:
        """Reactions by this app, on any message (the fake does not know users' messages,
        so it takes them to exist; a deleted bot message is `message_not_found`)."""
        require(params, "no_item_specified", "channel", "timestamp")
        require(params, "invalid_name", "name")
        channel, ts, name = str(params["channel"]), str(params["timestamp"]), params["name"]
        with self.lock:
            gone = any(m["ts"] == ts and m.get("deleted") for m in self.by_channel.get(channel, []))
            if gone and self.find(channel, ts) is None:
                raise Refused("message_not_found")
            reactions = self.reactions.setdefault((channel, ts), set())
            key = (name, owner["user"])
            if method == "reactions.add":
                if key in reactions:  # "already has the user/reaction combination"
                    raise Refused("already_reacted")
                reactions.add(key)
            elif key not in reactions:  # "The specified reaction does not exist, or ..."
                raise Refused("no_reaction")
            else:
                reactions.discard(key)
        return {"ok": True}

    # --- conversations.replies / conversations.history ---------------------
    def read(self, method: str, params: dict[str, Any], max_limit: int | None) -> dict[str, Any]:
        """What the bot posted (`oldest` exclusive; replies oldest first, history newest
        first, as Slack returns them), `limit` applied (capped for non-Marketplace apps)."""
        require(params, "channel_not_found", "channel")
        if method == "conversations.replies":
            require(params, "thread_not_found", "ts")  # "Value for `ts` was missing"
        if str(params["channel"]) in self.outside:
            # conversations.history (docs.slack.dev/reference/methods/conversations.history,
            # Errors): not_in_channel, "The token used does not have access to the proper
            # channel. Only user tokens can access public channels they are not in."
            # conversations.replies lists no not_in_channel: channel_not_found, "Value for
            # `channel` was missing or invalid" (docs.slack.dev/reference/methods/
            # conversations.replies, Errors).
            history = method == "conversations.history"
            raise Refused("not_in_channel" if history else "channel_not_found")
        oldest = float(params.get("oldest") or 0)
        with self.lock:
            posted = [
                m
                for m in self.by_channel.get(str(params["channel"]), [])
                if not m.get("deleted") and float(m["ts"]) > oldest
            ]
            if method == "conversations.replies":
                posted = [m for m in posted if params["ts"] in (m.get("thread_ts"), m["ts"])]
            else:
                posted = [m for m in reversed(posted) if not m.get("thread_ts")]
            keep_metadata = _flag(params, "include_all_metadata")
            shown = [
                {
                    k: v
                    for k, v in m.items()
                    if k not in INTERNAL and (keep_metadata or k != "metadata")
                }
                for m in posted
            ]
        default = 1000 if method == "conversations.replies" else 100  # documented defaults
        limit = int(params.get("limit") or default)
        if max_limit is not None:
            limit = min(limit, max_limit)
        return {"ok": True, "messages": shown[:limit], "has_more": len(shown) > limit}
