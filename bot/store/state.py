"""The coordination state every worker shares: dedup, per-thread inbox, locks, small facts.

`State` is three roles (`Queues`, `Recovery`, `Facts`: see each) plus what concerns the
whole store. `RedisState` is the production backend; `MemoryState` is the single-worker
embedded default; each implements the roles in modules named after them (redis_facts.py,
redis_recovery.py; memory_facts.py, memory_recovery.py). Both keep the same contract, which
the worker relies on:

- `accept` is atomic: a message is either a duplicate (nothing changes) or is queued durably
  in its thread's inbox before the Slack request is acknowledged.
- queued jobs leave the inbox only through `finish`, after their reply was posted, so a
  worker that dies mid-turn leaves them for the next holder of the thread lock.
- `release_if_idle` releases a thread lock only when its inbox is empty, so a message that
  lands just before release is never stranded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Protocol

from bot.jobs import Job, reply_thread_of
from bot.store.thread_lock import Lease

JOINED_TTL_SECONDS = 90 * 24 * 3600
# The session store's answer to "did the bot join this thread?" when the state could not
# say (State.note_joined): "no" is kept this long ("yes" as a joined flag).
NOT_JOINED_TTL_SECONDS = 24 * 3600
# Slack's clock (a thread's ts) and ours may differ: a thread that began this close to the
# start of the state's data is treated as possibly older.
CLOCK_SKEW_SECONDS = 60.0
REPLAY_PAUSE_SECONDS = 30
# After a Redis outage (or a replay that queued messages), a shard's turns wait this long,
# so every live process (its breaker lets it try again within BREAKER_SECONDS; its flusher
# within FLUSH_SECONDS, bot/intake/outage.py) queues what it held before any of a thread's later
# messages is answered: each lands before them, by message time.
SETTLE_SECONDS = 3.0
# What `offer` did with a message.
QUEUED, DUPLICATE, FULL = "queued", "duplicate", "full"


class Queues(Protocol):
    """The queue and the lease: how a message becomes work and work gets done once. A
    message is deduped and queued in its thread's inbox (`offer`/`accept`, atomic), a
    worker is woken (`wait_for_work`), takes the thread's lock (`try_lease`), reads its
    queued jobs (`queued`) and drops them only once answered (`finish`); the lease's
    `release_if_idle` lets the thread go when nothing is left (bot/store/thread_lock.py)."""

    def accept(self, job: Job, dedup_keys: list[str]) -> bool: ...

    def offer(self, job: Job, dedup_keys: list[str], max_queued: int = 0) -> str:
        """`accept` with a cap: QUEUED; DUPLICATE; or FULL when the thread already holds
        `max_queued` jobs (> 0), in which case the message is deduped (a retry of it is a
        DUPLICATE) but not queued. A replayed job is never refused (it was taken before)."""
        ...

    def is_duplicate(self, job: Job, dedup_keys: list[str]) -> bool:
        """Was any of these keys of `job` accepted already? (A read: `accept` decides.)"""
        ...

    def wait_for_work(self, timeout: float) -> str | None:
        """A thread with work (its session id), or None after `timeout` or a `nudge`."""
        ...

    def nudge(self) -> None:
        """End one `wait_for_work` now, without work (a stopping worker's, so it stops at
        once; any process's waiter may take it, which only costs it one empty wake-up)."""
        ...

    def try_lease(self, session_id: str) -> Lease | None: ...

    def queued(self, session_id: str, limit: int = 50) -> list[Job]: ...

    def finish(self, lease: Lease, jobs: list[Job]) -> None: ...

    def queue_stats(self) -> tuple[int, float]:
        """(messages queued in all threads, including those a running turn is answering;
        age in seconds of the oldest of them); (0, 0.0) when none is queued."""
        ...


class Recovery(Protocol):
    """Surviving lost work and lost data: a store that comes back empty (new, or a Redis
    or one Cluster shard that lost its data) is noticed by `claim_epoch`, whose one winner
    replays the durable inbox (bot/store/inbox.py) while `replaying` holds every turn back;
    `hold_turns` does the same after an outage, while processes queue what they held.
    `orphans` finds the threads with queued work whose worker died or whose wake-up was
    lost. And "did the bot join this thread?" (`is_joined`) answers None rather than a
    wrong "no" when the store cannot know, so the caller asks the session store."""

    def claim_epoch(self, session_id: str | None = None) -> bool:
        """True for the one caller that finds the state empty (new, or it lost its data):
        that caller replays the durable inbox (bot.store.inbox), then calls `replay_done`.
        Meanwhile `replaying` is true and no turn starts, so the recovered messages are
        answered before the ones that came after them. A caller that dies mid-replay is
        replaced by the next one after REPLAY_PAUSE_SECONDS.

        With `session_id`, only the part of the state holding that thread is checked (a
        Redis Cluster shard can lose its data while the others keep theirs): the cheap
        check before accepting a message; without it, all of it (the worker's sweep)."""
        ...

    def replaying(self, session_id: str | None = None) -> bool:
        """Is a replay running that this thread's turns (None: any turn) must wait for?"""
        ...

    def replay_done(self, settle_seconds: float = 0.0) -> None:
        """The replay is over; turns wait `settle_seconds` more (as `hold_turns`)."""
        ...

    def hold_turns(self, seconds: float, shard: int | None = None) -> None:
        """Make the turns of the threads in `shard` (bot/store/redis_keys.py; None: every
        thread) wait up to `seconds`, as during a replay, whose end does not cut it short:
        after a Redis outage, while each process queues the messages it held, so they
        go in message order first."""
        ...

    def orphans(self, limit: int = 100) -> list[str]:
        """Threads with queued work and no lock holder (at most `limit`): a dead worker's,
        or ones whose wake-up was lost. The worker's sweep takes them."""
        ...

    def is_joined(self, session_id: str) -> bool | None:
        """Did the bot join this thread (a turn was accepted in it)? None when the state
        cannot know: its data (for this thread's shard) is not known intact since before
        the thread began (see `knows_unjoined`). The caller then asks the session store and
        tells `note_joined` its answer."""
        ...

    def note_joined(self, session_id: str, joined: bool) -> None:
        """Keep the session store's answer for `is_joined` (a "no" for
        NOT_JOINED_TTL_SECONDS; a turn accepted later joins the thread regardless)."""
        ...


class Facts(Protocol):
    """Small shared facts, for features that need a few bytes across workers (a stop
    request, a stream's ts, a vote, notes for the next turn, a rate-limit budget, feedback
    counts). Keys are plain names, each built by its family in bot/store/facts.py (which
    also says how long it lives). Plus two per-thread or per-user facts with keys of their
    own: a thread's sticky persona and a user's latest thread in a channel (noted by
    `offer` when a turn is queued)."""

    def set_fact(self, key: str, value: str | None, ttl: float = JOINED_TTL_SECONDS) -> None: ...

    def fact(self, key: str) -> str | None: ...

    def add_once(self, key: str, member: str, ttl: float = JOINED_TTL_SECONDS) -> bool:
        """Add `member` to the set `key`; True only the first time."""
        ...

    def spend(self, key: str, limit: int, window: float) -> bool:
        """Count one use of `key` in the current fixed window of `window` seconds (the
        window starts at its first use); True while the count is still <= `limit`, False
        once over. Atomic across workers. Raises RedisError when Redis is down: callers
        (rate-limit budgeting) fail open."""
        ...

    def count(self, key: str, field: str, by: int = 1) -> int: ...

    def counts(self, key: str) -> dict[str, int]: ...

    def append_note(
        self, key: str, note: str, max_notes: int = 50, ttl: float = JOINED_TTL_SECONDS
    ) -> None: ...

    def notes(self, key: str) -> list[str]: ...

    def drop_notes(self, key: str, count: int) -> None:
        """Remove the oldest `count` notes (the ones a turn has used)."""
        ...

    def sticky_persona(self, session_id: str) -> str | None: ...

    def set_sticky_persona(self, session_id: str, persona: str | None) -> None: ...

    def recent_thread(self, team: str, channel: str, user: str) -> str | None: ...

    def upsert_recent(
        self,
        key: str,
        member: str,
        at: float,
        fields: Mapping[str, str],
        keep: Mapping[str, str],
        limit: int,
        ttl: float = JOINED_TTL_SECONDS,
    ) -> None:
        """Put `member` in the bounded collection `key`, ranked by `at` (newest first): set
        its `fields`, and its `keep` fields only where it has none yet (set once). Only the
        `limit` newest members are kept (the others go with their fields). Atomic per call:
        concurrent upserts of different members of one key never lose each other."""
        ...

    def recents(self, key: str) -> list[tuple[str, dict[str, str]]]:
        """The members of the collection `key`, newest first, each with its fields."""
        ...


class State(Queues, Recovery, Facts, Protocol):
    """The whole store: the three roles, and what concerns all of it at once. A caller
    that needs one role only takes that role (`Queues`, `Recovery` or `Facts`)."""

    distributed: bool  # shared by every process (Redis), or this process's memory only

    def forget_team(self, team: str) -> int:
        """The app was uninstalled from `team`: delete every key naming it (its threads'
        queues, flags, facts, notes, personas, dedup marks, budgets), except the uninstall
        mark itself and thread locks (a token only; a running turn still holds it, and it
        expires with LOCK_TTL_SECONDS). How many were deleted."""
        ...

    def ping(self) -> None: ...

    def quick(self) -> State:
        """This state for the ack path (Slack waits 3 s): calls that give up within
        a fraction of a second when the store hangs. (MemoryState: itself.)"""
        ...


def knows_unjoined(session_id: str, since: float | None, now: float) -> bool:
    """Can a state whose data has been continuous since `since` (unix time; None: not
    known) trust its own "not joined" for this thread? Only for a thread that began after
    that (so any turn in it was accepted after, and joined it there) and less than
    JOINED_TTL_SECONDS ago (so no joined flag of it can have expired)."""
    root = reply_thread_of(session_id)
    if since is None or root is None:
        return False
    began = float(root)
    return since + CLOCK_SKEW_SECONDS <= began and now - began < JOINED_TTL_SECONDS


def team_pattern(team: str) -> re.Pattern[str]:
    """Matches the keys that name `team`: a session id (`<team>_<channel>_<thread>`) or a
    `<team>:` part (dedup marks, a user's latest thread, budgets), at the start of the key
    or after a `:`."""
    return re.compile(rf"(^|:){re.escape(team)}[_:]")


KEPT_ON_UNINSTALL = ("uninstalled:",)  # the mark that stops a running turn from storing
