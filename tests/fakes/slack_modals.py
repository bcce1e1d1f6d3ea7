"""The fake Web API's modals: views.open with a trigger, and the views users submit.

Rules beside their sources:
- docs.slack.dev/reference/methods/views.open: `trigger_id` and `view` required; a trigger
  that cannot be used is `invalid_arguments` with `response_metadata.messages`
  ["invalid `trigger_id`"] (its typical error response); `view_too_large` over 250 kb.
- docs.slack.dev/interactivity/handling-user-interaction#modal_trigger ("triggers"): a
  `trigger_id` "expires in three seconds" and "may only be used once".
- docs.slack.dev/reference/surfaces/views (modal fields): `title`, `submit`, `close` are
  plain_text of at most 24 characters; `submit` is required when there are input blocks;
  `blocks` at most 100; `private_metadata` at most 3000 characters; `callback_id` at most 255.
- docs.slack.dev/reference/block-kit/blocks/input-block: `label` and `element` required,
  `label` and `hint` at most 2000 characters; `block_id` at most 255, unique in the view.
- block-elements pages: select `options` at most 100 (option `text` at most 75, `value` at
  most 150), checkboxes at most 10; plain_text_input `min_length`/`max_length` at most 3000;
  number_input `is_decimal_allowed` required; `action_id` at most 255.

A trigger is minted by the test (`trigger(user)`) for the interactive payload it sends, as
Slack mints one per interaction; `opened(user)` is what that user sees.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from typing import Any

from .slack_rules import Refused, decode, require

TRIGGER_SECONDS = 3.0
VIEW_MAX_BYTES = 250 * 1024
INPUT_ELEMENTS = frozenset(
    {
        "plain_text_input",
        "email_text_input",
        "url_text_input",
        "number_input",
        "static_select",
        "multi_static_select",
        "checkboxes",
        "radio_buttons",
        "datepicker",
        "datetimepicker",
        "timepicker",
    }
)
OPTIONS_MAX = {"static_select": 100, "multi_static_select": 100, "checkboxes": 10}


class BadTrigger(Refused):
    def __init__(self) -> None:
        super().__init__("invalid_arguments")
        self.messages = ["invalid `trigger_id`"]


class Modals:
    """Triggers handed out with interactions, and the modals opened with them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._triggers: dict[str, tuple[str, float]] = {}  # id -> (user, minted at)
        self._opened: dict[str, list[dict[str, Any]]] = {}
        self._ids = itertools.count(1)

    def trigger(self, user: str) -> str:
        """A new trigger for an interaction by `user`."""
        trigger_id = f"{next(self._ids)}.{int(time.time())}.{'a' * 32}"
        with self._lock:
            self._triggers[trigger_id] = (user, time.monotonic())
        return trigger_id

    def opened(self, user: str) -> list[dict[str, Any]]:
        """The modals opened for `user`, oldest first (as stored: with id, hash, state)."""
        with self._lock:
            return json.loads(json.dumps(self._opened.get(user, [])))

    def open(self, params: dict[str, Any]) -> dict[str, Any]:
        require(params, "invalid_arguments", "trigger_id", "view")
        raw = params["view"]
        if len(raw if isinstance(raw, str) else json.dumps(raw)) > VIEW_MAX_BYTES:
            raise Refused("view_too_large")
        view = decode(params, "view", "invalid_arguments")
        check_modal(view)
        with self._lock:
            user, minted = self._triggers.pop(str(params["trigger_id"]), ("", 0.0))
            if not user or time.monotonic() - minted > TRIGGER_SECONDS:
                raise BadTrigger()
            n = next(self._ids)
            stored = {
                **view,
                "id": f"VM{n:07d}",
                "hash": f"{int(time.time())}.{n:08d}",
                "state": {"values": {}},
                "private_metadata": view.get("private_metadata", ""),
                "callback_id": view.get("callback_id", ""),
            }
            self._opened.setdefault(user, []).append(stored)
        return {"ok": True, "view": stored}


def _text(obj: Any) -> str:
    return obj.get("text", "") if isinstance(obj, dict) and obj.get("type") == "plain_text" else ""


def check_modal(view: Any) -> None:
    """A modal view within the documented limits (see the module)."""
    if not isinstance(view, dict) or view.get("type") != "modal":
        raise Refused("invalid_arguments")
    if not 0 < len(_text(view.get("title"))) <= 24:
        raise Refused("invalid_arguments")
    for key in ("submit", "close"):
        if key in view and not 0 < len(_text(view[key])) <= 24:
            raise Refused("invalid_arguments")
    blocks = view.get("blocks")
    if not isinstance(blocks, list) or not 0 < len(blocks) <= 100:
        raise Refused("invalid_arguments")
    if (
        len(str(view.get("private_metadata", ""))) > 3000
        or len(str(view.get("callback_id", ""))) > 255
    ):
        raise Refused("invalid_arguments")
    ids = [b.get("block_id") for b in blocks if isinstance(b, dict) and "block_id" in b]
    if len(ids) != len(set(ids)) or any(len(str(i)) > 255 for i in ids):
        raise Refused("invalid_arguments")
    inputs = [b for b in blocks if isinstance(b, dict) and b.get("type") == "input"]
    if inputs and "submit" not in view:
        raise Refused("invalid_arguments")
    for block in inputs:
        _check_input(block)


def _check_input(block: dict[str, Any]) -> None:
    label, hint = _text(block.get("label")), block.get("hint")
    if not 0 < len(label) <= 2000 or (hint is not None and not 0 < len(_text(hint)) <= 2000):
        raise Refused("invalid_arguments")
    element = block.get("element")
    if not isinstance(element, dict) or element.get("type") not in INPUT_ELEMENTS:
        raise Refused("invalid_arguments")
    if len(str(element.get("action_id", ""))) > 255:
        raise Refused("invalid_arguments")
    kind = element["type"]
    if kind in OPTIONS_MAX:
        options = element.get("options")
        if not isinstance(options, list) or not 0 < len(options) <= OPTIONS_MAX[kind]:
            raise Refused("invalid_arguments")
        for option in options:
            if (
                not 0 < len(_text(option.get("text"))) <= 75
                or not 0 < len(str(option.get("value", ""))) <= 150
            ):
                raise Refused("invalid_arguments")
    if kind == "number_input" and not isinstance(element.get("is_decimal_allowed"), bool):
        raise Refused("invalid_arguments")
    for key in ("min_length", "max_length"):
        if key in element and not (isinstance(element[key], int) and 0 <= element[key] <= 3000):
            raise Refused("invalid_arguments")
