"""Reply: everything the bot posts to Slack goes through here."""

from __future__ import annotations

import logging
import time

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.agent.personas import Persona
from bot.answer.feedback import feedback_actions
from bot.answer.slack_format import (
    fallback_text,
    follow_streamed,
    markdown_block,
    neutralise_mentions,
    split_parts,
)
from bot.answer.stream import AnswerStream
from bot.answer.stream_messages import Message, stop_quietly
from bot.jobs import Job
from bot.slack.clients import SlackClients

log = logging.getLogger(__name__)
ANSWER_EVENT = "thread_bot_answer"  # message metadata: which Slack message an answer is for
UPDATE_ATTEMPTS = 3
# chat.update errors after which the message is replaced (deleted, posted anew) instead:
# docs.slack.dev/reference/methods/chat.update
UNUPDATABLE = {
    "block_mismatch",
    "msg_too_long",
    "cant_update_message",
    "edit_window_closed",
    "message_not_found",
    "invalid_blocks",
    "invalid_blocks_format",
    "msg_blocks_too_long",
}


def tools_line(tools: tuple[str, ...]) -> dict:
    """A compact context line naming the tools an answer used."""
    names = neutralise_mentions(", ".join(f"`{name}`" for name in tools))
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": f":hammer_and_wrench: Used {names}"}],
    }


def _metadata(job: Job, part: int, parts: int) -> dict:
    payload = {"for_ts": job.ts, "part": part, "parts": parts}
    return {"event_type": ANSWER_EVENT, "event_payload": payload}


def ephemeral(
    client: WebClient, channel: str, user: str, text: str, thread_ts: str | None = None
) -> None:
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

    def blocks(
        self, job: Job, part: str, persona: Persona | None, last: bool, tools: tuple[str, ...] = ()
    ) -> list[dict]:
        """One message of an answer: its Markdown, then (on the last) the tools it used and
        the 👍/👎 buttons."""
        blocks = [markdown_block(part)] if part.strip() else []
        if last and tools:
            blocks.append(tools_line(tools))
        if last and persona is not None:
            blocks.append(feedback_actions(job.session_id, job.ts, persona.id))
        return blocks

    def answer(
        self,
        job: Job,
        text: str,
        persona: Persona | None = None,
        skip_parts: frozenset[int] = frozenset(),
        tools: tuple[str, ...] = (),
    ) -> None:
        """Post `text` in parts; each part's metadata names the job and the part, so a replay
        can post only the parts a crash kept from Slack."""
        parts = split_parts(text)
        for index, part in enumerate(parts):
            if index not in skip_parts:
                self._post(job, part, index, parts, persona, tools)

    def _post(
        self,
        job: Job,
        part: str,
        index: int,
        parts: list[str],
        persona: Persona | None,
        tools: tuple[str, ...],
    ) -> None:
        last = index == len(parts) - 1
        self.clients.for_job(job).chat_postMessage(
            channel=job.channel,
            thread_ts=job.reply_thread_ts,
            text=fallback_text(part),
            blocks=self.blocks(job, part, persona, last, tools),
            metadata=_metadata(job, index, len(parts)),
            **self.identity(persona),
            unfurl_links=False,
            unfurl_media=False,
        )  # links the model wrote stay links

    def deliver(
        self,
        job: Job,
        text: str,
        persona: Persona | None,
        stream: AnswerStream | None,
        skip_parts: frozenset[int] = frozenset(),
        tools: tuple[str, ...] = (),
    ) -> None:
        """Make Slack show exactly the stored answer `text`, once: the messages the stream
        opened (this attempt's or an earlier one's) are finished in place, what they cannot
        hold is posted after them, and any they do not need is deleted."""
        if stream is not None:
            stream.close()
        if stream is None or not stream.messages:
            self.answer(job, text, persona, skip_parts, tools=tools)
            return
        parts = follow_streamed(text, [message.text for message in stream.messages])
        self._finish(job, stream, parts, persona, tools, skip_parts)

    def end_stream(self, job: Job, stream: AnswerStream | None, text: str) -> bool:
        """End a stream with what it showed and `text` (an apology) after it, final and
        without feedback; False if there is no message to end."""
        if stream is not None:
            stream.close()
        if stream is None or not stream.messages:
            return False
        shown = stream.so_far()
        self._finish(job, stream, split_parts(f"{shown}\n\n{text}".strip()), None)
        return True

    def _finish(
        self,
        job: Job,
        stream: AnswerStream,
        parts: list[str],
        persona: Persona | None,
        tools: tuple[str, ...] = (),
        skip_parts: frozenset[int] = frozenset(),
    ) -> None:
        messages = list(stream.messages)
        for index, part in enumerate(parts):
            if index < len(messages):
                self._replace(job, messages[index], part, index, parts, persona, tools)
            elif index not in skip_parts:
                self._post(job, part, index, parts, persona, tools)
        for extra in messages[len(parts) :]:  # an earlier, longer attempt's
            self._delete(job, extra)
        stream.forget()

    def _replace(
        self,
        job: Job,
        message: Message,
        part: str,
        index: int,
        parts: list[str],
        persona: Persona | None,
        tools: tuple[str, ...],
    ) -> None:
        """chat.update `message` to show `part`, final; a message Slack will not update is
        deleted and the part posted instead."""
        client = self.clients.for_job(job)
        if message.live:
            message.live = not stop_quietly(client, job.channel, message.ts)
        last = index == len(parts) - 1
        for attempt in range(UPDATE_ATTEMPTS):
            try:
                client.chat_update(
                    channel=job.channel,
                    ts=message.ts,
                    text=fallback_text(part),
                    blocks=self.blocks(job, part, persona, last, tools),
                    metadata=_metadata(job, index, len(parts)),
                )
                return
            except SlackApiError as exc:
                error = exc.response.get("error", "")
                if error == "streaming_state_conflict" and attempt + 1 < UPDATE_ATTEMPTS:
                    stop_quietly(client, job.channel, message.ts)  # still streaming: end it
                    time.sleep(0.5 * (attempt + 1))
                    continue
                if error not in UNUPDATABLE and error != "streaming_state_conflict":
                    raise  # retried by the worker: the stored answer is delivered again
                log.warning(
                    "could not update %s (%s): posting the answer again instead", message.ts, error
                )
                break
        self._delete(job, message)
        self._post(job, part, index, parts, persona, tools)

    def _delete(self, job: Job, message: Message) -> None:
        try:
            self.clients.for_job(job).chat_delete(channel=job.channel, ts=message.ts)
        except SlackApiError as exc:
            if exc.response.get("error", "") != "message_not_found":
                log.warning("could not delete %s: %s", message.ts, exc.response.get("error"))

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
                    channel=job.channel,
                    ts=job.reply_thread_ts,
                    oldest=job.ts,
                    include_all_metadata=True,
                    limit=200,
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
        self.clients.for_job(job).chat_postMessage(
            channel=job.channel, thread_ts=job.reply_thread_ts, text=text
        )

    def ephemeral(
        self, channel: str, user: str, text: str, thread_ts: str | None = None, *, job: Job
    ) -> None:
        """A private note in `job`'s workspace (e.g. where a reset was asked for)."""
        ephemeral(self.clients.for_job(job), channel, user, text, thread_ts)
