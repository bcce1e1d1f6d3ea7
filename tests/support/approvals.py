"""Approval requests as the thread shows them, and clicks on their buttons as Slack sends
them (captured body 87's button click, tests/fakes/slack_payloads.py)."""

from __future__ import annotations

import copy
import json
from typing import Any

from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import block_action, button_action
from tests.support.wait import wait_until


def shown(slack: FakeSlack, root: str) -> list[dict[str, Any]]:
    """The bot's messages in the thread as stored now (text and blocks), oldest first."""
    return [
        m
        for m in slack.messages.everything()
        if m.get("bot_id")
        and not m.get("external")
        and not m.get("deleted")
        and root in (m.get("thread_ts"), m["ts"])
    ]


def text_of(message: dict[str, Any]) -> str:
    return str(message.get("text", "")) + json.dumps(message.get("blocks", ""))


def request(slack: FakeSlack, root: str) -> dict[str, Any]:
    """The approval request in the thread, as it is now (a copy)."""
    found = wait_until(
        lambda: next((m for m in shown(slack, root) if "Approval needed" in text_of(m)), None),
        20,
        "the approval request",
    )
    return copy.deepcopy(found)


def buttons(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The buttons a message shows, by action_id."""
    return {
        e["action_id"]: e
        for block in message.get("blocks") or []
        for e in block.get("elements", [])
        if e.get("type") == "button"
    }


def click_payload(message: dict[str, Any], action_id: str, user: str = "U1") -> dict[str, Any]:
    """`user` clicks the button `action_id` of `message` (in channel C1)."""
    value = buttons(message)[action_id]["value"]
    return block_action(button_action(action_id, value), "C1", message["ts"], user=user)


def all_final(slack: FakeSlack, root: str) -> None:
    """Wait until every bot message in the thread is final: none streaming, no Stop button,
    none empty (a stream is stopped just after its last text shows)."""
    wait_until(lambda: slack.stale_messages("C1", root) == [], 10, "every message final")
