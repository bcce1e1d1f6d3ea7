"""Route: decide whether a Slack event is work for the bot, and turn it into a Job."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bot.files import slack_files
from bot.jobs import DM_THREAD, Job

MAX_TEXT_CHARS = 12_000
_RESET_WORDS = {"reset", "/reset", "reset conversation", "forget", "start over"}
# Subtypes that are still a person writing; every other subtype is a system event.
_PERSON_SUBTYPES = (None, "file_share", "thread_broadcast", "me_message")
SLACKBOT = "USLACKBOT"  # Slack's own notices ("You have been removed from #…"), never a turn


@dataclass(frozen=True)
class Ignored:
    reason: str


Route = Job | Ignored


def strip_mentions(text: str, bot_user_id: str) -> str:
    return re.sub(rf"<@{re.escape(bot_user_id)}(\|[^>]*)?>", "", text or "").strip()


def split_persona(text: str, persona_ids: Iterable[str]) -> tuple[str | None, str]:
    """'critic: is this right?' -> ('critic', 'is this right?') when 'critic' is a persona."""
    head, sep, rest = text.partition(":")
    if sep and head.strip().lower() in {p.lower() for p in persona_ids}:
        wanted = head.strip().lower()
        persona = next(p for p in persona_ids if p.lower() == wanted)
        return persona, rest.strip()
    return None, text


def _str(event: dict, key: str) -> str:
    """A string field, "" when Slack sent null, left it out, or sent another shape."""
    value = event.get(key)
    return value if isinstance(value, str) else ""


def _from_bot(event: dict) -> bool:
    return bool(event.get("bot_id") or event.get("bot_profile")) or (
        event.get("subtype") == "bot_message" or event.get("user") == SLACKBOT
    )


def _job(event: dict, team: str, thread_ts: str, text: str, persona_ids: Iterable[str],
         *, reply_in_thread: bool = True) -> Job:
    persona, text = split_persona(text, list(persona_ids))
    kind = "reset" if text.lower().strip(" .!") in _RESET_WORDS else "turn"
    return Job(
        kind=kind, team=team, channel=event["channel"], thread_ts=thread_ts, ts=event["ts"],
        user=_str(event, "user"), text=text[:MAX_TEXT_CHARS], persona=persona,
        reply_in_thread=reply_in_thread, requested_in=event["channel"],
        files=slack_files(event.get("files")),
    )


def route_mention(event: dict, team: str, bot_user_id: str, persona_ids: Iterable[str]) -> Route:
    if _from_bot(event):
        return Ignored("message from a bot")
    if event.get("edited"):
        return Ignored("edited mention")
    if not _str(event, "channel") or not _str(event, "ts"):
        return Ignored("mention without channel or ts")
    thread_ts = _str(event, "thread_ts") or event["ts"]
    text = strip_mentions(_str(event, "text"), bot_user_id)
    return _job(event, team, thread_ts, text, persona_ids)


def route_message(
    event: dict, team: str, bot_user_id: str, persona_ids: Iterable[str],
    is_joined: Callable[[Job], bool],
) -> Route:
    if event.get("subtype") not in _PERSON_SUBTYPES:
        return Ignored(f"subtype {event.get('subtype')}")
    if _from_bot(event) or event.get("user") == bot_user_id:
        return Ignored("message from a bot or Slackbot")
    if not _str(event, "channel") or not _str(event, "ts") or not _str(event, "user"):
        return Ignored("message without channel, ts or user")
    text = _str(event, "text")
    thread_ts = _str(event, "thread_ts") or None
    if event.get("channel_type") == "im":
        clean = strip_mentions(text, bot_user_id)
        return _job(event, team, thread_ts or DM_THREAD, clean, persona_ids,
                    reply_in_thread=bool(thread_ts))
    if f"<@{bot_user_id}" in text:
        if event.get("channel_type") == "mpim":
            # Group DMs may not get an app_mention; if one comes too, dedup (channel + ts)
            # keeps a single turn.
            clean = strip_mentions(text, bot_user_id)
            return _job(event, team, thread_ts or event["ts"], clean, persona_ids)
        return Ignored("mention: handled by app_mention")
    if not thread_ts or thread_ts == event["ts"]:
        return Ignored("top-level message without a mention")
    job = _job(event, team, thread_ts, text, persona_ids)
    if not is_joined(job):
        return Ignored("thread the bot has not joined")
    return job
