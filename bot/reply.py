"""Reply: everything the bot posts to Slack goes through here."""

from __future__ import annotations

import logging

from slack_sdk import WebClient

from bot.agent.personas import Persona
from bot.feedback import feedback_blocks
from bot.jobs import Job

log = logging.getLogger(__name__)
CHUNK_CHARS = 3_900  # keep each Slack message comfortably under the display limits
ANSWER_EVENT = "thread_bot_answer"  # message metadata: which Slack message an answer is for


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

    def answer(self, job: Job, text: str, persona: Persona | None = None,
               skip_parts: frozenset[int] = frozenset()) -> None:
        """Post `text` in parts; each part's metadata names the job and the part, so a replay
        can post only the parts a crash kept from Slack. The last part carries the 👍/👎
        feedback buttons (as blocks; `text` stays the notification fallback)."""
        identity = {}
        if persona is not None and self.show_persona:
            identity["username"] = persona.name
            if persona.icon_emoji:
                identity["icon_emoji"] = persona.icon_emoji
            elif persona.icon_url:
                identity["icon_url"] = persona.icon_url
        parts = chunks(text)
        for index, part in enumerate(parts):
            if index in skip_parts:
                continue
            payload = {"for_ts": job.ts, "part": index, "parts": len(parts)}
            blocks = None
            if index == len(parts) - 1 and persona is not None:
                blocks = feedback_blocks(job.session_id, job.ts, persona.id, part)
            self.client.chat_postMessage(
                channel=job.channel, thread_ts=job.reply_thread_ts, text=part, blocks=blocks,
                metadata={"event_type": ANSWER_EVENT, "event_payload": payload}, **identity,
            )

    def posted_parts(self, job: Job) -> frozenset[int]:
        """Which parts of an answer to `job` are already in Slack (a crash hit between
        posting and dequeuing).

        Only asked when replaying a stored answer, which is rare: the history endpoints
        are rate limited. When Slack cannot tell us, post again (at least once).
        """
        try:
            if job.reply_thread_ts:
                response = self.client.conversations_replies(
                    channel=job.channel, ts=job.reply_thread_ts, oldest=job.ts,
                    include_all_metadata=True, limit=200,
                )
            else:
                response = self.client.conversations_history(
                    channel=job.channel, oldest=job.ts, include_all_metadata=True, limit=200
                )
        except Exception as exc:
            log.warning("could not check for an earlier answer to %s: %s", job.ts, exc)
            return frozenset()
        found = set()
        for message in response.get("messages", []):
            metadata = message.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            if metadata.get("event_type") == ANSWER_EVENT and payload.get("for_ts") == job.ts:
                found.add(int(payload.get("part", 0)))
        return frozenset(found)

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
