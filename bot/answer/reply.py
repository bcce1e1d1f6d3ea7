"""Reply: everything the bot posts to Slack goes through here.

An answer is posted in parts (bot/answer/slack_format.py); each part's metadata names the
message it answers and the part, so a replay posts only the parts Slack does not have.
Each part posted as a new message is claimed in the durable inbox first, so two processes
holding the same answer (a slow post while Redis restarts and another replays it) never
both post it: the second posts only what Slack does not show once the claim is abandoned,
and meanwhile raises PostPending, which the worker retries (bot/turns/worker.py).
Delivery makes the messages a stream opened (bot/answer/stream.py) show the stored answer.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.answer.feedback import feedback_actions
from bot.answer.parts import ANSWER_EVENT, Part, Speaker, parts_of, tools_line
from bot.answer.slack_format import fallback_text, follow_streamed, markdown_block, split_parts
from bot.answer.sources import Source, sources_line
from bot.answer.stream_messages import Message, stop_quietly
from bot.jobs import Job
from bot.slack.clients import SlackClients

log = logging.getLogger(__name__)
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


class PostPending(Exception):
    """Another process claimed this answer part and Slack does not show it yet: try later."""


class PostClaims(Protocol):
    """Who posts each answer part (bot.store.inbox.Inbox is one)."""

    def claim_post(self, job: Job, part: int) -> bool: ...

    def take_over_post(self, job: Job, part: int) -> bool: ...

    def release_post(self, job: Job, part: int) -> None: ...


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
    def __init__(
        self, clients: SlackClients, show_persona: bool, claims: PostClaims | None = None
    ) -> None:
        self.clients = clients  # each job's installation's client
        self.show_persona = show_persona
        self.claims = claims  # None: one process per answer (tests, notes), post freely

    def identity(self, speaker: Speaker | None) -> dict[str, str]:
        """The speaker's name and icon on its messages, when there are several personas."""
        identity: dict[str, str] = {}
        if speaker is not None and self.show_persona:
            identity["username"] = speaker.name
            if speaker.icon_emoji:
                identity["icon_emoji"] = speaker.icon_emoji
            elif speaker.icon_url:
                identity["icon_url"] = speaker.icon_url
        return identity

    def blocks(self, part: Part) -> list[dict]:
        """One message of an answer: its Markdown, then (on the last) the tools it used, the
        pages they cited and the 👍/👎 buttons."""
        blocks = [markdown_block(part.text)] if part.text.strip() else []
        if part.last and part.tools:
            blocks.append(tools_line(part.tools))
        if part.last and part.sources:
            blocks.append(sources_line(part.sources))
        if part.last and part.actions:
            blocks.extend(part.actions)
        elif part.last and part.speaker is not None:
            blocks.append(feedback_actions(part.job.session_id, part.job.ts, part.speaker.id))
        return blocks

    def answer(
        self,
        job: Job,
        text: str,
        speaker: Speaker | None = None,
        skip_parts: frozenset[int] = frozenset(),
        tools: tuple[str, ...] = (),
        sources: tuple[Source, ...] = (),
        actions: tuple[dict, ...] = (),
    ) -> None:
        """Post `text` in parts; each part's metadata names the job and the part, so a replay
        can post only the parts a crash kept from Slack."""
        shown = ShownParts(self)
        for part in parts_of(job, split_parts(text), speaker, tools, sources, actions):
            if part.index not in skip_parts:
                self._post_once(part, shown)

    def _post_once(self, part: Part, shown: ShownParts) -> None:
        """Post `part` unless another process claimed it (see the module). Only a replayed
        job (Redis lost its data, so the claimant may still hold the thread and be posting)
        waits for an abandoned claim, raising PostPending meanwhile; otherwise the thread
        lock passed on because the claimant died, and what Slack does not show is posted."""
        claims, job = self.claims, part.job
        if claims is None or claims.claim_post(job, part.index):
            self._post_claimed(part)
        elif part.index in shown.of(job):
            log.info("part %d of the answer to %s is in Slack already", part.index, job.ts)
        elif not job.replayed or claims.take_over_post(job, part.index):
            log.warning("posting part %d of the answer to %s: its poster died", part.index, job.ts)
            self._post_claimed(part)
        else:
            raise PostPending(f"part {part.index} of the answer to {job.ts} is being posted")

    def _post_claimed(self, part: Part) -> None:
        """Post `part`; when Slack refuses, give up the claim so a retry finds it free."""
        try:
            self._post(part)
        except Exception:
            if self.claims is not None:
                self.claims.release_post(part.job, part.index)
            raise

    def _post(self, part: Part) -> None:
        job = part.job
        self.clients.for_job(job).chat_postMessage(
            channel=job.channel,
            thread_ts=job.reply_thread_ts,
            text=fallback_text(part.text),
            blocks=self.blocks(part),
            metadata=part.metadata(),
            **self.identity(part.speaker),  # type: ignore[arg-type]  # username/icon_* are str
            unfurl_links=False,
            unfurl_media=False,
        )  # links the model wrote stay links

    def deliver(
        self,
        job: Job,
        text: str,
        speaker: Speaker | None,
        streamed: list[Message],
        skip_parts: frozenset[int] = frozenset(),
        tools: tuple[str, ...] = (),
        sources: tuple[Source, ...] = (),
        actions: tuple[dict, ...] = (),
    ) -> None:
        """Make Slack show exactly the stored answer `text`, once: the messages a stream
        opened (`streamed`: this attempt's or an earlier one's) are finished in place, what
        they cannot hold is posted after them, and any they do not need is deleted."""
        if not streamed:
            self.answer(job, text, speaker, skip_parts, tools, sources, actions)
            return
        texts = follow_streamed(text, [message.text for message in streamed])
        parts = parts_of(job, texts, speaker, tools, sources, actions)
        self.finish(job, streamed, parts, skip_parts)

    def finish(
        self,
        job: Job,
        streamed: list[Message],
        parts: list[Part],
        skip_parts: frozenset[int] = frozenset(),
    ) -> None:
        """Make the `streamed` messages show `parts`, final: each is updated with its part,
        parts beyond them are posted (unless in `skip_parts`), extra messages deleted."""
        shown = ShownParts(self)
        for part in parts:
            if part.index < len(streamed):
                self._replace(streamed[part.index], part)
            elif part.index not in skip_parts:
                self._post_once(part, shown)
        for extra in streamed[len(parts) :]:  # an earlier, longer attempt's
            self._delete(job, extra)

    def _replace(self, message: Message, part: Part) -> None:
        """chat.update `message` to show `part`, final; a message Slack will not update is
        deleted and the part posted instead."""
        job = part.job
        client = self.clients.for_job(job)
        if message.live:
            message.live = not stop_quietly(client, job.channel, message.ts)
        for attempt in range(UPDATE_ATTEMPTS):
            try:
                client.chat_update(
                    channel=job.channel,
                    ts=message.ts,
                    text=fallback_text(part.text),
                    blocks=self.blocks(part),
                    metadata=part.metadata(),
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
        self._post_once(part, ShownParts(self))

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
        return frozenset(self.posted(job))

    def posted(self, job: Job) -> dict[int, str]:
        """The answer to `job` in Slack: part -> message ts (empty when Slack cannot say)."""
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
            return {}
        found: dict[int, str] = {}
        messages: list[dict[str, Any]] = response.get("messages", [])
        for message in messages:
            metadata = message.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            if metadata.get("event_type") == ANSWER_EVENT and payload.get("for_ts") == job.ts:
                found[int(payload.get("part", 0))] = str(message.get("ts", ""))
        return found

    def note(self, job: Job, text: str) -> None:
        self.clients.for_job(job).chat_postMessage(
            channel=job.channel, thread_ts=job.reply_thread_ts, text=text
        )

    def ephemeral(
        self, channel: str, user: str, text: str, thread_ts: str | None = None, *, job: Job
    ) -> None:
        """A private note in `job`'s workspace (e.g. where a reset was asked for)."""
        ephemeral(self.clients.for_job(job), channel, user, text, thread_ts)


class ShownParts:
    """The answer parts Slack shows for a job, read at most once per delivery (the history
    endpoints are rate limited) and only when a claim says another process posted some."""

    def __init__(self, replier: Replier) -> None:
        self.replier = replier
        self._shown: dict[str, frozenset[int]] = {}

    def of(self, job: Job) -> frozenset[int]:
        if job.ts not in self._shown:
            self._shown[job.ts] = self.replier.posted_parts(job)
        return self._shown[job.ts]
