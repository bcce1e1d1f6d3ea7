"""Attempts: the durable retry record of a thread's head message, shared by all workers.

Kept in the state store (one small fact per thread, written only by the thread lock's
holder), so a message that keeps failing, or keeps killing the process that runs it, is
given up after MAX_FAILURES attempts in all, not MAX_FAILURES per worker: an attempt is
counted when it starts, so one that never ended (the worker died) counts too.

It also holds the delivery state of an answer that was stored but that Slack would not
take (`delivering`: since when), and when the next attempt may start (`retry_at`), so a
thread waiting for Slack holds neither a turn slot nor its lock meanwhile.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass

from bot.jobs import Job
from bot.store.facts import ATTEMPTS
from bot.store.state import Facts

log = logging.getLogger(__name__)


@dataclass
class Attempts:
    ts: str  # the head message these attempts are for
    count: int = 0  # attempts started (since `delivering` began, when it is set)
    delivering: float | None = None  # when delivering its stored answer began to fail
    retry_at: float = 0.0  # no attempt before this time


def load(state: Facts, head: Job) -> Attempts:
    """The record of `head` (a fresh one if the thread's record is another message's)."""
    raw = state.fact(ATTEMPTS.key(head.session_id))
    try:
        found = Attempts(**json.loads(raw)) if raw else None
    except (TypeError, ValueError):
        log.warning("session %s: unreadable attempts record; starting over", head.session_id)
        found = None
    return found if found is not None and found.ts == head.ts else Attempts(head.ts)


def save(state: Facts, session_id: str, attempts: Attempts) -> None:
    state.set_fact(ATTEMPTS.key(session_id), json.dumps(asdict(attempts)), ttl=ATTEMPTS.ttl)


def clear(state: Facts, session_id: str) -> None:
    state.set_fact(ATTEMPTS.key(session_id), None)
