"""The fake Web API's Home views (views.publish) and message links (chat.getPermalink).

Rules beside their sources:
- docs.slack.dev/reference/methods/views.publish: `user_id` and `view` required, `hash`
  optional; errors `hash_conflict` ("the provided `hash` doesn't match the current stored
  value"), `not_enabled` ("a `home` view is published but the Home tab isn't enabled for the
  app"), `view_too_large` ("greater than 250kb"), `invalid_arguments`; also `not_found`,
  which the fake never answers (it knows no users). Tier 4.
- docs.slack.dev/reference/surfaces/views: a Home tab view has `type: "home"` and
  `blocks`, "up to 100 blocks".
- docs.slack.dev/reference/methods/chat.getPermalink: `channel` and `message_ts` required;
  `channel_not_found` ("Value passed for `channel` was invalid"), `message_not_found` ("No
  message exists with the requested timestamp"); a reply's link ends with
  `?thread_ts=<parent>&cid=<channel>`; no scope required.

The fake knows a channel only by the messages in it (posted by the bot, or `add_message`):
a link to a message the fake never saw is `message_not_found` (`channel_not_found` when it
saw nothing in that channel), so a test that wants a real permalink adds the root first.
"""

from __future__ import annotations

import itertools
import json
import threading
from typing import Any

from .slack_messages import MessageStore
from .slack_rules import (
    ACTION_ID_MAX,
    BUTTON_TEXT_MAX,
    BUTTON_VALUE_MAX,
    HEADER_TEXT_MAX,
    MESSAGE_BLOCK_TYPES,
    SECTION_TEXT_MAX,
    Refused,
    decode,
    is_given,
    require,
)

VIEW_METHODS = ("views.publish", "chat.getPermalink")
HOME_BLOCKS_MAX = 100  # "up to 100 blocks" in a modal or Home tab (views reference)
VIEW_MAX_BYTES = 250 * 1024  # `view_too_large`: "greater than 250kb"
WORKSPACE_URL = "https://test.slack.com"  # the fake's auth.test `url`


class HomeViews:
    """The Home view each user sees (keyed by user id), and permalinks of known messages."""

    def __init__(self, messages: MessageStore, home_tab_enabled: bool = True) -> None:
        self.messages = messages
        self.home_tab_enabled = home_tab_enabled
        self._lock = threading.Lock()
        self._views: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)

    def published(self, user: str) -> dict[str, Any] | None:
        """The view `user` sees on the Home tab (as published: type, blocks, ...), or None."""
        with self._lock:
            view = self._views.get(user)
            return json.loads(json.dumps(view["view"])) if view else None

    def handle(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method == "chat.getPermalink":
            return self._permalink(params)
        return self._publish(params)

    def _publish(self, params: dict[str, Any]) -> dict[str, Any]:
        require(params, "invalid_arguments", "user_id", "view")  # both required
        raw = params["view"]
        if len(raw if isinstance(raw, str) else json.dumps(raw)) > VIEW_MAX_BYTES:
            raise Refused("view_too_large")
        view = decode(params, "view", "invalid_arguments")
        if not isinstance(view, dict) or view.get("type") != "home":
            raise Refused("invalid_arguments")  # views.publish publishes Home tab views
        check_home_blocks(view.get("blocks"))
        if not self.home_tab_enabled:
            raise Refused("not_enabled")
        user = str(params["user_id"])
        with self._lock:
            current = self._views.get(user)
            if is_given(params, "hash") and (current is None or params["hash"] != current["hash"]):
                raise Refused("hash_conflict")
            view_id = current["id"] if current else f"V{next(self._ids):08d}"
            stored = {"id": view_id, "hash": f"{next(self._ids)}.hash", "view": view}
            self._views[user] = stored
        return {"ok": True, "view": {**view, "id": view_id, "hash": stored["hash"]}}

    def _permalink(self, params: dict[str, Any]) -> dict[str, Any]:
        require(params, "channel_not_found", "channel")
        require(params, "message_not_found", "message_ts")  # no message is identified
        channel, ts = str(params["channel"]), str(params["message_ts"])
        with self.messages.lock:
            if not self.messages.by_channel.get(channel):
                raise Refused("channel_not_found")
        message = self.messages.find(channel, ts)
        if message is None:
            raise Refused("message_not_found")
        link = f"{WORKSPACE_URL}/archives/{channel}/p{ts.replace('.', '')}"
        parent = message.get("thread_ts")
        if parent and parent != ts:
            link += f"?thread_ts={parent}&cid={channel}"
        return {"ok": True, "channel": channel, "permalink": link}


def check_home_blocks(blocks: Any) -> None:
    """A Home view's `blocks`: required, at most 100, each a block of a known type within
    the Block Kit limits the bot's blocks use (section, header, button accessory)."""
    if not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks):
        raise Refused("invalid_arguments")
    if len(blocks) > HOME_BLOCKS_MAX:
        raise Refused("invalid_arguments")  # the limit is documented, not its error's name
    for block in blocks:
        kind, text = block.get("type"), (block.get("text") or {}).get("text", "")
        if kind not in MESSAGE_BLOCK_TYPES:
            raise Refused("invalid_arguments")
        if kind == "section" and not 0 < len(text) <= SECTION_TEXT_MAX:
            raise Refused("invalid_arguments")
        if kind == "header" and not 0 < len(text) <= HEADER_TEXT_MAX:
            raise Refused("invalid_arguments")
        _check_accessory(block.get("accessory"))


def _check_accessory(element: Any) -> None:
    if element is None:
        return
    if not isinstance(element, dict) or element.get("type") != "button":
        raise Refused("invalid_arguments")  # the bot's Home view only uses buttons
    label = (element.get("text") or {}).get("text", "")
    if (
        not 0 < len(label) <= BUTTON_TEXT_MAX
        or len(str(element.get("value", ""))) > BUTTON_VALUE_MAX
        or not 0 < len(str(element.get("action_id", ""))) <= ACTION_ID_MAX
    ):
        raise Refused("invalid_arguments")
