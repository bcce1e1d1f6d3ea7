"""Durable inbox: every accepted message is also an object in the session store.

It is written (`If-None-Match: *`) before Slack gets its ack, beside the Redis queue, so a
Redis that loses everything (a restart without persistence, a failover, a flush) loses no
acked message: the first process to see the state store empty
(`Recovery.recover_if_emptied`, bot/intake/recovery.py) queues the recent records again,
marked `replayed`, and a replayed message that the session already handled is skipped,
never answered twice: a committed turn remembers the messages it answered in its snapshot
(`SessionStore.handled`); anything else handled (a reset, help, a greeting, an apology)
leaves a `.done` object beside its record.

Two processes can hold the same answer at once: a worker whose post is slow (Slack rate
limits it) while Redis restarts and another worker replays the message. Each answer part
posted as a new message is therefore claimed first (`claim_post`, one conditional PUT). A
part someone else claimed is posted again only when Slack does not show it and, for a
replayed message, once the claim is older than POST_CLAIM_SECONDS (bot/answer/reply.py).

Records are never deleted one by one (that would cost a request per message); an S3
lifecycle rule on the `inbox/` prefix expires them (docs/operations.md), and replay reads only the
last REPLAY_SECONDS.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from bot.jobs import Job, message_time
from bot.store.blobs import Blobs, FencingError

log = logging.getLogger(__name__)
REPLAY_SECONDS = 3600  # how far back a replay looks: far beyond a turn's retries
POST_CLAIM_SECONDS = 180.0  # a claimed post not in Slack after this was abandoned: beyond
# any post's own retries (3 rate-limit waits, 2 reconnects, 15 s timeouts)
_HOUR = 3600


def _hour(seconds: float) -> str:
    return time.strftime("%Y%m%d%H", time.gmtime(seconds))


def record_key(job: Job) -> str:
    """The same key for every delivery of one Slack message: its ts gives the hour."""
    return f"inbox/{_hour(message_time(job.ts) or time.time())}/{job.session_id}/{job.ts}.json"


def _done_key(job: Job) -> str:
    return record_key(job)[:-5] + ".done"


def _message_prefix(job: Job) -> str:
    return record_key(job)[:-5] + ".msg."


def _post_key(job: Job, part: int) -> str:
    return f"{record_key(job)[:-5]}.post.{part}"


def _claim(now: float) -> bytes:
    return json.dumps({"at": now}).encode()


class Inbox:
    def __init__(self, blobs: Blobs) -> None:
        self.blobs = blobs

    def record(self, job: Job) -> bool:
        """Write the durable record; False if this message was recorded before."""
        try:
            self.blobs.put(record_key(job), job.dumps().encode(), None)
            return True
        except FencingError:
            return False

    def done(self, job: Job) -> None:
        """Mark a message handled without a turn commit (a reset, help, a greeting, an
        apology): a replay skips it. (A committed turn is remembered in its snapshot.)"""
        with contextlib.suppress(FencingError):  # marked before
            self.blobs.put(_done_key(job), b"", None)

    def note_message(self, job: Job, ts: str) -> None:
        """Remember durably that the bot's message `ts` answers `job` (a stream it opened),
        so a later attempt finishes that message even after Redis forgot it."""
        with contextlib.suppress(FencingError):  # noted before
            self.blobs.put(f"{_message_prefix(job)}{ts}", b"", None)

    def claim_post(self, job: Job, part: int) -> bool:
        """Claim the posting of part `part` of the answer to `job`; False if claimed before."""
        try:
            self.blobs.put(_post_key(job, part), _claim(time.time()), None)
            return True
        except FencingError:
            return False

    def take_over_post(self, job: Job, part: int) -> bool:
        """Claim a post whose claim is older than POST_CLAIM_SECONDS (its poster died
        before Slack took it); False while the claim is fresh or another took it over."""
        found = self.blobs.get(_post_key(job, part))
        if found is not None:
            try:
                claimed_at = float(json.loads(found[0]).get("at", 0.0))
            except (ValueError, AttributeError):
                claimed_at = 0.0  # unreadable: as old as can be
            if claimed_at > time.time() - POST_CLAIM_SECONDS:
                return False
        try:
            self.blobs.put(_post_key(job, part), _claim(time.time()), found and found[1])
            return True
        except FencingError:
            return False

    def release_post(self, job: Job, part: int) -> None:
        """Give up a claim after Slack refused the post (best effort: it goes stale anyway)."""
        try:
            self.blobs.delete([_post_key(job, part)])
        except Exception as exc:
            log.warning("could not release the post claim of %s: %s", job.ts, exc)

    def messages(self, job: Job) -> list[str]:
        """The ts of the bot's messages noted for `job`, oldest first (one LIST)."""
        prefix = _message_prefix(job)
        found = [key[len(prefix) :] for key in self.blobs.keys(prefix)]
        return sorted(found, key=lambda ts: message_time(ts) or 0.0)

    def recent(self, seconds: float = REPLAY_SECONDS, now: float | None = None) -> list[Job]:
        """The records of the last `seconds`, oldest first, each marked `replayed`."""
        now = time.time() if now is None else now
        hours = sorted({_hour(t) for t in range(int(now - seconds), int(now) + _HOUR, _HOUR)})
        listed = {key for hour in hours for key in self.blobs.keys(f"inbox/{hour}/")}
        keys = sorted(
            key for key in listed if key.endswith(".json") and key[:-5] + ".done" not in listed
        )
        with ThreadPoolExecutor(max_workers=16) as pool:
            found = list(pool.map(self.blobs.get, keys))
        jobs = [Job.loads(got[0]) for got in found if got is not None]
        recent = [job for job in jobs if (message_time(job.ts) or now) >= now - seconds]
        recent.sort(key=lambda job: message_time(job.ts) or now)
        return [dataclasses.replace(job, replayed=True) for job in recent]


def replay(inbox: Inbox, accept: Callable[[Job], bool]) -> int:
    """Queue the recent records again; how many were queued (the rest were still known)."""
    queued = 0
    for job in inbox.recent():
        queued += bool(accept(job))
    if queued:
        log.warning(
            "the state store is new or lost its data: %d recent messages queued "
            "again from the durable inbox (those already handled are skipped)",
            queued,
        )
    else:
        log.info("the state store is new: nothing in the durable inbox to queue again")
    return queued
