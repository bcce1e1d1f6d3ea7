"""manifest.yml: valid by Slack's published schema, and subscribed to every event the Bolt
app listens to (an event missing from the manifest is never delivered)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

from tests.support.harness import Bot, base_env

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "tests" / "schemas" / "slack_manifest.schema.1.0.0.json"
# Bolt's event listeners match `{"type": "<event>"}`; `message` events arrive through the
# message.* subscriptions (one per conversation type).
EVENT_TYPE = re.compile(r"^[a-z_]+$")


def manifest() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "manifest.yml").read_text())


def schema_errors(document: dict[str, Any]) -> list[str]:
    validator = Draft7Validator(json.loads(SCHEMA.read_text()))
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def subscribed(document: dict[str, Any]) -> set[str]:
    """The event types the manifest's bot events deliver (`message.im` delivers `message`)."""
    events = document["settings"]["event_subscriptions"]["bot_events"]
    return {event.split(".")[0] for event in events}


def listened_events(bot: Bot) -> set[str]:
    """The event types the real Bolt app registers a listener for (`app.event(<type>)`:
    Bolt's builtin event matcher keeps the type, or a {"type": …} constraint, in its closure)."""
    types = set()
    for listener in bot.app._listeners:
        for matcher in getattr(listener, "matchers", []):
            func = getattr(matcher, "func", None)
            if getattr(func, "__qualname__", "") != "event.<locals>.func":
                continue
            for cell in func.__closure__ or ():
                value = cell.cell_contents
                value = value.get("type") if isinstance(value, dict) else value
                if isinstance(value, str) and EVENT_TYPE.match(value):
                    types.add(value)
    return types


@pytest.fixture
def app_events(fake_slack, session_dir) -> set[str]:
    bot = Bot(base_env(fake_slack.base_url, SESSION_DIR=str(session_dir)))
    try:
        return listened_events(bot)
    finally:
        bot.runtime.worker.stop(timeout=5)
        bot.server.server_close()


def test_manifest_is_valid_by_slacks_schema() -> None:
    assert schema_errors(manifest()) == []


def test_the_schema_catches_a_broken_manifest() -> None:
    broken = manifest()
    broken["features"]["agent_view"]["agent_description"] = "x" * 301  # maxLength 300
    broken["features"]["agent_view"]["agent_desc"] = "typo"  # additionalProperties: false
    assert len(schema_errors(broken)) == 2


def test_the_manifest_uses_the_agent_view() -> None:
    features = manifest()["features"]
    assert "assistant_view" not in features
    assert features["agent_view"]["agent_description"]
    assert features["app_home"]["home_tab_enabled"] is True


def test_every_event_the_app_listens_to_is_subscribed(app_events: set[str]) -> None:
    assert {"app_home_opened", "message", "app_mention"} <= app_events  # the walk finds them
    assert app_events - subscribed(manifest()) == set()


@pytest.mark.parametrize("event", ["app_home_opened", "message.im", "assistant_thread_started"])
def test_a_missing_subscription_is_caught(app_events: set[str], event: str) -> None:
    document = manifest()
    bot_events = document["settings"]["event_subscriptions"]["bot_events"]
    bot_events.remove(event)
    if event == "message.im":  # `message` is still delivered by the other message.* events
        bot_events[:] = [e for e in bot_events if not e.startswith("message.")]
    assert app_events - subscribed(document) != set()
