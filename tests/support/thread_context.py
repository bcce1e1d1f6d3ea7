"""A thread as conversations.replies gives it, read by the reader of
bot/turns/inputs/thread_context.py."""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient

from bot.turns.inputs.thread_context import ContextLimits, NameCache, ThreadReader
from tests.fakes.slack_api import FakeSlack

ROOT = "1700000100.000100"
PEOPLE = {"U1": "Ada Lovelace", "U2": "grace"}


def ts_at(i: int) -> str:
    return f"1700000{100 + i:03d}.000{i:03d}"


def reader(slack: FakeSlack, client: WebClient | None = None, **kw: Any) -> ThreadReader:
    client = client or WebClient(token="xoxb-test", base_url=slack.base_url)
    return ThreadReader(client, kw.pop("limits", ContextLimits()), names=NameCache(), **kw)
