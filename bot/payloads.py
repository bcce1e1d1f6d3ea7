"""Shape checks for Slack payloads, so malformed input gets a clear 400 and not a 500.

Bolt assumes Slack's shapes (e.g. `body["event"]["type"]` is a string, `team` is an
object); a signed request that breaks those assumptions would otherwise raise inside Bolt.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs

STRINGS = {"type", "team_id", "user_id", "channel_id", "enterprise_id", "api_app_id",
           "event_id", "command", "text", "callback_id", "trigger_id", "response_url", "token",
           "message_ts", "challenge", "ssl_check", "user_name", "channel_name", "team_domain",
           "enterprise_name", "id", "name", "ts", "thread_ts"}
OBJECTS = {"team", "user", "channel", "enterprise", "message", "container", "view"}
LISTS_OF_OBJECTS = {"authorizations", "actions"}
# Inside `event`, user/channel/team are ids (strings), not objects.
EVENT_STRINGS = {"type", "subtype", "user", "channel", "ts", "thread_ts", "text", "team",
                 "bot_id", "channel_type", "event_ts"}
EVENT_OBJECTS = {"edited", "message", "item", "bot_profile"}


class MalformedPayload(ValueError):
    pass


def _object(value: object, where: str) -> dict:
    if not isinstance(value, dict):
        raise MalformedPayload(f"{where} must be an object")
    return value


def _check(obj: dict, where: str, strings: set[str], objects: set[str]) -> None:
    for key, value in obj.items():
        path = f"{where}.{key}"
        if key in strings and not isinstance(value, str):
            raise MalformedPayload(f"{path} must be a string")
        if key in objects:
            _check(_object(value, path), path, STRINGS, set())
        if key in LISTS_OF_OBJECTS:
            if not isinstance(value, list):
                raise MalformedPayload(f"{path} must be a list")
            for index, item in enumerate(value):
                _check(_object(item, f"{path}[{index}]"), f"{path}[{index}]", STRINGS, set())


def check(body: bytes, content_type: str) -> None:
    """Raise MalformedPayload unless `body` has the shapes Slack sends."""
    try:
        text = body.decode("utf-8")
        if content_type.startswith("application/json"):
            payload = json.loads(text)
        else:
            form = {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}
            payload = json.loads(form["payload"]) if "payload" in form else form
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedPayload(f"body is not valid JSON or form data: {exc}") from None
    _check(_object(payload, "body"), "body", STRINGS, OBJECTS - {"event"})
    if "event" in payload or payload.get("type") == "event_callback":
        event = _object(payload.get("event"), "body.event")
        _check(event, "body.event", EVENT_STRINGS, EVENT_OBJECTS)
        if not isinstance(event.get("type"), str):
            raise MalformedPayload("body.event.type must be a string")
