"""Reply: everything the bot posts to Slack goes through here."""

from __future__ import annotations

import logging

from slack_sdk import WebClient

from bot.agent.personas import Persona
from bot.jobs import Job

log = logging.getLogger(__name__)
CHUNK_CHARS = 3_900  # keep each Slack message comfortably under the display limits


def chunks(text: str, size: int = CHUNK_CHARS) -> list[str]:
    """Split long text at line breaks where possible."""
    parts: list[str] = []
    while len(text) > size:
        cut = text.rfind("\n", 0, size)
        cut = cut if cut > size // 2 else size
        parts.append(text[:cut])
        text = text[cut:].lstrip("\n")
    return [*parts, text] if text else parts or [""]


class Replier:
    def __init__(self, client: WebClient, show_persona: bool) -> None:
        self.client = client
        self.show_persona = show_persona

    def answer(self, job: Job, text: str, persona: Persona | None = None) -> None:
        identity = {}
        if persona is not None and self.show_persona:
            identity["username"] = persona.name
            if persona.icon_emoji:
                identity["icon_emoji"] = persona.icon_emoji
            elif persona.icon_url:
                identity["icon_url"] = persona.icon_url
        for part in chunks(text):
            self.client.chat_postMessage(
                channel=job.channel, thread_ts=job.reply_thread_ts, text=part, **identity
            )

    def note(self, job: Job, text: str) -> None:
        self.client.chat_postMessage(channel=job.channel, thread_ts=job.reply_thread_ts, text=text)

    def ephemeral(self, channel: str, user: str, text: str, thread_ts: str | None = None) -> None:
        if not user:
            return
        try:
            self.client.chat_postEphemeral(
                channel=channel, user=user, text=text, thread_ts=thread_ts
            )
        except Exception as exc:  # an ephemeral is a courtesy; the thread note already landed
            log.warning("could not send ephemeral to %s in %s: %s", user, channel, exc)
