"""Route: decide whether a Slack event is work for the bot, and turn it into a Job."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bot.jobs import DM_THREAD, Job, JobKind
from bot.turns.inputs.app_context import parse
from bot.turns.inputs.files import slack_files
from bot.turns.inputs.posts import (
    MESSAGE_SUBTYPES,
    PERSON_SUBTYPES,
    SLACKBOT,
    bot_name,
    is_app_post,
    message_text,
    str_field,
)
from bot.turns.inputs.thread_notes import BotPost

MAX_TEXT_CHARS = 12_000
_RESET_WORDS = {"reset", "/reset", "reset conversation", "forget", "start over"}
_STOP_WORDS = {"stop", "stop answering", "cancel"}
_HELP_WORDS = {"help"}


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


def _from_bot(event: dict) -> bool:
    return is_app_post(event) or event.get("user") == SLACKBOT


def _kind(text: str) -> JobKind:
    """A message that is only a command word is that command; anything else is a turn."""
    word = text.lower().strip(" .!")
    if word in _RESET_WORDS:
        return "reset"
    if word in _STOP_WORDS:
        return "stop"
    return "help" if word.rstrip("?") in _HELP_WORDS else "turn"


def _job(
    event: dict,
    team: str,
    thread_ts: str,
    text: str,
    persona_ids: Iterable[str],
    *,
    reply_in_thread: bool = True,
) -> Job:
    persona, text = split_persona(text, list(persona_ids))
    kind = _kind(text)
    return Job(
        kind=kind,
        team=team,
        channel=event["channel"],
        thread_ts=thread_ts,
        ts=event["ts"],
        user=str_field(event, "user"),
        text=text[:MAX_TEXT_CHARS],
        persona=persona,
        reply_in_thread=reply_in_thread,
        requested_in=event["channel"],
        user_team=str_field(event, "user_team") or str_field(event, "team") or team,
        files=slack_files(event.get("files")),
        # a message in the agent view says what its author viewed as they wrote it
        app_context=None if event.get("app_context") is None else parse(event["app_context"], team),
    )


def route_mention(event: dict, team: str, bot_user_id: str, persona_ids: Iterable[str]) -> Route:
    if _from_bot(event):
        return Ignored("message from a bot")
    if event.get("edited"):
        return Ignored("edited mention")
    if not str_field(event, "channel") or not str_field(event, "ts"):
        return Ignored("mention without channel or ts")
    thread_ts = str_field(event, "thread_ts") or event["ts"]
    text = strip_mentions(str_field(event, "text"), bot_user_id)
    return _job(event, team, thread_ts, text, persona_ids)


def route_message(
    event: dict,
    team: str,
    bot_user_id: str,
    persona_ids: Iterable[str],
    is_joined: Callable[[Job], bool],
) -> Route:
    if event.get("subtype") not in PERSON_SUBTYPES:
        return Ignored(f"subtype {event.get('subtype')}")
    if _from_bot(event) or event.get("user") == bot_user_id:
        return Ignored("message from a bot or Slackbot")
    if (
        not str_field(event, "channel")
        or not str_field(event, "ts")
        or not str_field(event, "user")
    ):
        return Ignored("message without channel, ts or user")
    text = str_field(event, "text")
    thread_ts = str_field(event, "thread_ts") or None
    if event.get("channel_type") == "im":
        clean = strip_mentions(text, bot_user_id)
        return _job(
            event, team, thread_ts or DM_THREAD, clean, persona_ids, reply_in_thread=bool(thread_ts)
        )
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


# --- other apps' posts: never a turn, but the next turn's context (turns/inputs/thread_notes.py)
NOTE_CHARS = 2_000


def route_bot_post(
    event: dict,
    team: str,
    bot_user_id: str,
    bot_id: str | None,
    is_joined: Callable[[Job], bool],
) -> BotPost | Ignored:
    """Another app's post in a thread the bot has joined (not its own, not Slackbot's)."""
    if (
        not is_app_post(event)
        or event.get("user") in (bot_user_id, SLACKBOT)
        or (bot_id and event.get("bot_id") == bot_id)
    ):
        return Ignored("not another app's post")
    if event.get("subtype") not in MESSAGE_SUBTYPES:
        return Ignored(f"app post of subtype {event.get('subtype')}")
    channel, ts, thread_ts = (
        str_field(event, "channel"),
        str_field(event, "ts"),
        str_field(event, "thread_ts"),
    )
    text = message_text(event)
    if not channel or not ts or not thread_ts or thread_ts == ts or not text:
        return Ignored("app post outside a thread, or empty")
    if len(text) > NOTE_CHARS:
        text = text[: NOTE_CHARS - 1] + "…"
    job = Job(
        kind="note", team=team, channel=channel, thread_ts=thread_ts, ts=ts, user="", text=text
    )
    if not is_joined(job):
        return Ignored("app post in a thread the bot has not joined")
    return BotPost(job, bot_name(event), str_field(event, "bot_id") or str_field(event, "app_id"))
