"""Slack messages as posted: who posted one (a person, an app, Slackbot) and what it says.

Used to route events (bot/intake/route.py) and to read a thread
(bot/turns/inputs/thread_context.py).
"""

from __future__ import annotations

# Subtypes that are still a person writing; every other subtype is a system event.
PERSON_SUBTYPES = (None, "file_share", "thread_broadcast", "me_message")
MESSAGE_SUBTYPES = (*PERSON_SUBTYPES, "bot_message")  # someone wrote it: not a system notice
SLACKBOT = "USLACKBOT"  # Slack's own notices ("You have been removed from #…"), never a turn


def str_field(event: dict, key: str) -> str:
    """A string field, "" when Slack sent null, left it out, or sent another shape."""
    value = event.get(key)
    return value if isinstance(value, str) else ""


def is_app_post(event: dict) -> bool:
    """Posted by an app (bot user or classic bot_message): not a person, not Slackbot."""
    return bool(event.get("bot_id") or event.get("bot_profile")) or (
        event.get("subtype") == "bot_message"
    )


def _list(event: dict, key: str) -> list:
    value = event.get(key)
    return value if isinstance(value, list) else []


def message_text(event: dict) -> str:
    """The text of a message, else its attachments' (apps often post only those), plus file
    names."""
    text = str_field(event, "text")
    if not text.strip():
        parts = [
            a.get("fallback") or a.get("text")
            for a in _list(event, "attachments")
            if isinstance(a, dict)
        ]
        text = "\n".join(p for p in parts if isinstance(p, str))
    files = [f.get("name") or f.get("title") for f in _list(event, "files") if isinstance(f, dict)]
    if names := [f for f in files if isinstance(f, str) and f]:
        text += f" (files: {', '.join(names)})"
    return text.strip()


def bot_name(event: dict) -> str:
    """The name an app posts under (chosen by whoever posts: data, never a label)."""
    profile = event.get("bot_profile")
    chosen = profile.get("name") if isinstance(profile, dict) else None
    name = chosen or event.get("username") or event.get("bot_id")
    return name if isinstance(name, str) and name else "an app"
