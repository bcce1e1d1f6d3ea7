"""Answers that were stored but never shown: recorded, and reported once Slack works.

When Slack keeps failing past the worker's horizon (DELIVERY_GIVE_UP_SECONDS), or refuses
an answer for good (e.g. `not_in_channel` while the bot was out of a channel), the answer
is in the session's memory but not in the thread. `record` notes it in the state store
(beside the thread's other notes, kept for days); `report` posts one short note per such
answer the next time a post to that thread succeeds, so the user learns an answer is
missing (and can ask for it: the model remembers it). Threads nobody writes in again are
found through an index: `report_pending` (the worker's sweep, one process at a time) tries
their notes every REPORT_SECONDS, so the note appears once Slack takes it.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable

from bot.jobs import Job
from bot.store.facts import REPORTER, UNDELIVERED, UNDELIVERED_THREADS
from bot.store.state import Facts
from bot.store.thread_lock import Lease

log = logging.getLogger(__name__)
NOTE = (
    ":warning: An answer I wrote at {when} could not be shown: Slack would not take it then. "
    "I still remember it: ask me to repeat it if you need it."
)
INDEX = UNDELIVERED_THREADS.key()  # the threads with a note to post: {"job": …, "at": …}
INDEX_MAX = 1000
REPORT_SECONDS = REPORTER.ttl  # how often the sweep tries the index (one process per window)
REPORT_DAYS = 7  # a thread Slack keeps refusing this long is no longer tried


class Undelivered(Exception):
    """The answer to `job` (covering `jobs`) is stored, but Slack did not show it."""

    def __init__(self, job: Job, jobs: list[Job]) -> None:
        super().__init__(f"the answer to {job.ts} was stored but not shown")
        self.job = job
        self.jobs = jobs


def record(state: Facts, job: Job, since: float) -> None:
    """Remember that the answer to `job`, written at `since`, was never shown."""
    try:
        state.append_note(
            UNDELIVERED.key(job.session_id),
            json.dumps({"ts": job.ts, "at": since}),
            ttl=UNDELIVERED.ttl,
        )
        state.append_note(
            INDEX, json.dumps({"job": job.dumps(), "at": since}), INDEX_MAX, UNDELIVERED_THREADS.ttl
        )
    except Exception as exc:  # the answer stays in memory; only the note is lost
        log.error(
            "session %s: could not record the unshown answer to %s: %s", job.session_id, job.ts, exc
        )


def when(at: float) -> str:
    """A time Slack shows in each reader's own time zone (HH:MM UTC as the fallback)."""
    fallback = time.strftime("%H:%M UTC", time.gmtime(at))
    return f"<!date^{int(at)}^{{time}}|{fallback}>"


def report(state: Facts, job: Job, post: Callable[[str], None]) -> bool:
    """Slack just took a post in `job`'s thread: post a note for each answer recorded as
    not shown there (each note removed once posted). Failures wait for the next time:
    False."""
    key = UNDELIVERED.key(job.session_id)
    try:
        pending = state.notes(key)
        for raw in pending:
            post(NOTE.format(when=when(float(json.loads(raw).get("at") or time.time()))))
            state.drop_notes(key, 1)
    except Exception as exc:
        log.warning("session %s: could not report an unshown answer yet: %s", job.session_id, exc)
        return False
    return True


def report_pending(
    state: Facts, try_lease: Callable[[str], Lease | None], post: Callable[[Job, str], None]
) -> int:
    """Post the notes of every indexed thread whose lock is free (a busy thread reports
    after its own next answer); an entry Slack still refuses goes to the back of the index.
    The number of threads reported."""
    reported = 0
    for raw in state.notes(INDEX):
        entry = json.loads(raw)
        job = Job.loads(entry["job"])
        state.drop_notes(INDEX, 1)
        if time.time() - float(entry.get("at") or 0) > REPORT_DAYS * 86_400:
            continue
        lease = try_lease(job.session_id)
        if lease is None:
            state.append_note(INDEX, raw, INDEX_MAX, UNDELIVERED_THREADS.ttl)
            continue
        try:
            done = report(state, job, functools.partial(post, job))
        finally:
            lease.release()
        if done:
            reported += 1
        else:
            state.append_note(INDEX, raw, INDEX_MAX, UNDELIVERED_THREADS.ttl)
    return reported
