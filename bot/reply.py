"""Reply: everything the bot posts to Slack goes through here."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError

from bot.agent.personas import Persona
from bot.feedback import feedback_blocks
from bot.jobs import Job
from bot.slack_clients import SlackClients
from bot.stream import MESSAGE_CHARS, AnswerStream, stream_key

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


def split_first(text: str) -> tuple[str, str]:
    """What one streamed message shows, and what follows it as posts."""
    if len(text) <= MESSAGE_CHARS:
        return text, ""
    cut = text.rfind("\n", 0, MESSAGE_CHARS)
    cut = cut if cut > MESSAGE_CHARS // 2 else MESSAGE_CHARS
    return text[:cut], text[cut:].lstrip("\n")


def tools_line(tools: tuple[str, ...]) -> dict:
    """A compact context line naming the tools an answer used."""
    names = ", ".join(f"`{name}`" for name in tools)
    return {"type": "context", "elements": [
        {"type": "mrkdwn", "text": f":hammer_and_wrench: Used {names}"}]}


def _metadata(job: Job, part: int, parts: int) -> dict:
    payload = {"for_ts": job.ts, "part": part, "parts": parts}
    return {"event_type": ANSWER_EVENT, "event_payload": payload}


def _quietly(call) -> None:  # noqa: ANN001
    try:
        call()
    except (SlackApiError, SlackRequestError) as exc:
        log.debug("ignored while ending a stream: %s", exc)


def ephemeral(client: WebClient, channel: str, user: str, text: str,
              thread_ts: str | None = None) -> None:
    """A private note to `user`; a courtesy: failures are logged, never raised."""
    if not user:
        return
    try:
        client.chat_postEphemeral(channel=channel, user=user, text=text, thread_ts=thread_ts)
    except Exception as exc:  # an ephemeral is a courtesy; the thread note already landed
        log.warning("could not send ephemeral to %s in %s: %s", user, channel, exc)


class Replier:
    def __init__(self, clients: SlackClients, show_persona: bool) -> None:
        self.clients = clients  # each job's installation's client
        self.show_persona = show_persona

    def identity(self, persona: Persona | None) -> dict[str, str]:
        """The persona's name and icon on its messages, when there are several personas."""
        identity: dict[str, str] = {}
        if persona is not None and self.show_persona:
            identity["username"] = persona.name
            if persona.icon_emoji:
                identity["icon_emoji"] = persona.icon_emoji
            elif persona.icon_url:
                identity["icon_url"] = persona.icon_url
        return identity

    def answer(self, job: Job, text: str, persona: Persona | None = None,
               skip_parts: frozenset[int] = frozenset(), first: str | None = None,
               tools: tuple[str, ...] = ()) -> None:
        """Post `text` in parts; each part's metadata names the job and the part, so a replay
        can post only the parts a crash kept from Slack. With `first`, part 0 is already in
        Slack (a streamed message) and `text` is the rest."""
        parts = ([first] if first is not None else []) + (chunks(text) if text else [])
        for index, part in enumerate(parts):
            if index in skip_parts or (index == 0 and first is not None):
                continue
            blocks = None
            if index == len(parts) - 1 and persona is not None:
                blocks = feedback_blocks(job.session_id, job.ts, persona.id, part)
                if tools:  # a posted answer has no task steps: say which tools it used
                    blocks.insert(-1, tools_line(tools))
            self.clients.for_job(job).chat_postMessage(
                channel=job.channel, thread_ts=job.reply_thread_ts, text=part, blocks=blocks,
                metadata=_metadata(job, index, len(parts)), **self.identity(persona),
            )

    def deliver(self, job: Job, text: str, persona: Persona | None,
                stream: AnswerStream | None, skip_parts: frozenset[int] = frozenset(),
                tools: tuple[str, ...] = ()) -> None:
        """Make Slack show exactly the stored answer `text`, once."""
        sdk_stream = stream.close() if stream is not None else None
        if stream is None or stream.ts is None:
            self.answer(job, text, persona, skip_parts, tools=tools)
            return
        first, rest = split_first(text)
        parts = 1 + len(chunks(rest)) if rest else 1
        metadata = _metadata(job, 0, parts)
        if stream.live and sdk_stream is not None:  # it may have expired: best effort
            _quietly(lambda: sdk_stream.stop(metadata=metadata))
        # Then the stored answer replaces what streamed (and the Stop button every streamed
        # message carries); 👍/👎 go on the answer's last message.
        votes = persona is not None and not rest
        blocks = feedback_blocks(job.session_id, job.ts, persona.id if persona else "", first)
        self.clients.for_job(job).chat_update(channel=job.channel, ts=stream.ts, text=first,
                                blocks=blocks if votes else blocks[:-1], metadata=metadata)
        self.answer(job, rest, persona, skip_parts, first=first)
        stream.state.set_fact(stream_key(job), None)

    def end_stream(self, job: Job, stream: AnswerStream | None, text: str) -> bool:
        """End a stream with `text` (an apology) appended; False if there is none to end."""
        sdk_stream = stream.close() if stream is not None else None
        if stream is None or stream.ts is None:
            return False
        if stream.live and sdk_stream is not None:
            sdk_stream.stop(markdown_text=f"\n\n{text}")
        else:
            self.clients.for_job(job).chat_update(channel=job.channel, ts=stream.ts,
                                    text=f"{stream.streamed}\n\n{text}".strip())
        stream.state.set_fact(stream_key(job), None)
        return True

    def posted_parts(self, job: Job) -> frozenset[int]:
        """Which parts of an answer to `job` are already in Slack (a crash hit between
        posting and dequeuing).

        Only asked when replaying a stored answer, which is rare: the history endpoints
        are rate limited. When Slack cannot tell us, post again (at least once).
        """
        try:
            client = self.clients.for_job(job)
            if job.reply_thread_ts:
                response = client.conversations_replies(
                    channel=job.channel, ts=job.reply_thread_ts, oldest=job.ts,
                    include_all_metadata=True, limit=200,
                )
            else:
                response = client.conversations_history(
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
        self.clients.for_job(job).chat_postMessage(channel=job.channel,
                                                   thread_ts=job.reply_thread_ts, text=text)

    def ephemeral(self, channel: str, user: str, text: str, thread_ts: str | None = None, *,
                  job: Job) -> None:
        """A private note in `job`'s workspace (e.g. where a reset was asked for)."""
        ephemeral(self.clients.for_job(job), channel, user, text, thread_ts)
