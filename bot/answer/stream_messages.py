"""The bot's messages of one answer: which they are, and finding them again.

An answer streams into one or more Slack messages. Their ts are kept in shared state
(`stream:<session>:<message ts>`) and noted in the durable inbox (bot/store/inbox.py) as soon as
Slack gives each, so a later attempt at the same message (after a crash, a lost lease, or
Redis losing its keys and the inbox replaying it) finishes those messages instead of
leaving them streaming beside a second copy.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.messages.chunk import Chunk

from bot.jobs import Job
from bot.store.facts import STREAM
from bot.store.inbox import Inbox
from bot.store.state import Facts

log = logging.getLogger(__name__)
ENDED = {"message_not_in_streaming_state", "stopped_by_user", "message_not_found"}


def stream_key(job: Job) -> str:
    return STREAM.key(job.session_id, job.ts)


@dataclass
class Message:
    """One bot message of an answer: its ts, and whether Slack may still be streaming it."""

    ts: str
    live: bool = True
    text: str = ""  # what was streamed into it
    full: bool = False  # the next text goes into a new message
    opened: float = 0.0  # time.monotonic() when it started streaming
    stream: Any = None  # slack_sdk's ChatStream while we stream into it


def earlier_messages(state: Facts, inbox: Inbox | None, job: Job, maybe_earlier: bool) -> list[str]:
    """The messages an earlier attempt at `job` left: shared state knows them, and when it
    does not (Redis lost its keys, or was down when the stream opened) storage does, asked
    only when an earlier attempt may exist (`maybe_earlier`): one LIST."""
    try:
        known = state.fact(stream_key(job))
    except Exception as exc:  # Redis down: storage may know
        log.warning("could not read the stream of %s: %s", job.ts, exc)
        known = None
    if known:
        return json.loads(known) if known.startswith("[") else [known]
    if inbox is None or not (maybe_earlier or job.replayed):
        return []
    try:
        return inbox.messages(job)
    except Exception as exc:
        log.warning("could not look for an earlier answer to %s: %s", job.ts, exc)
        return []


def remember_messages(state: Facts, inbox: Inbox | None, job: Job, known: list[str]) -> None:
    """Shared state and durable storage learn the answer's messages (the newest last)."""
    try:
        state.set_fact(stream_key(job), json.dumps(known), ttl=STREAM.ttl)
    except Exception as exc:
        log.warning("could not share the stream of %s: %s", job.ts, exc)
    if inbox is not None:
        try:
            inbox.note_message(job, known[-1])
        except Exception as exc:
            log.warning("could not note the stream of %s durably: %s", job.ts, exc)


def forget_messages(state: Facts, job: Job) -> None:
    """The answer is final in Slack: no later attempt needs its messages."""
    try:
        state.set_fact(stream_key(job), None)
    except Exception as exc:  # it expires on its own
        log.warning("could not clear the stream of %s: %s", job.ts, exc)


def stop_quietly(
    client: WebClient, channel: str, ts: str, chunks: Sequence[Chunk] | None = None
) -> bool:
    """chat.stopStream on `ts` (with last `chunks`, e.g. a plan's title); True if it is no
    longer streaming (stopped, or was not)."""
    try:
        client.chat_stopStream(channel=channel, ts=ts, chunks=chunks or None)
        return True
    except SlackApiError as exc:
        return exc.response.get("error", "") in ENDED
    except Exception as exc:
        log.debug("could not stop the stream %s: %s", ts, exc)
        return False


__all__ = [
    "ENDED",
    "Message",
    "earlier_messages",
    "forget_messages",
    "remember_messages",
    "stop_quietly",
    "stream_key",
]
