"""State's `Recovery` role in process memory (bot/store/memory_state.py mixes it in).

One process's memory is lost only with the process: the first `claim_epoch` wins (the state
is new) and no later one does. "Not joined" is known for the threads begun since the
process started, unless a joined flag was evicted for room (then only for threads newer
than the newest evicted one).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from bot.jobs import reply_thread_of
from bot.store.state import (
    JOINED_TTL_SECONDS,
    NOT_JOINED_TTL_SECONDS,
    REPLAY_PAUSE_SECONDS,
    knows_unjoined,
)
from bot.store.ttl_map import TtlMap


class MemoryRecovery:
    """Every call holds the state's one lock (`_cond`), which also guards the queues that
    `orphans` reads (`_pending`, `_locks`: bot/store/memory_state.py)."""

    _cond: threading.Condition
    _wrote: Callable[[], None]
    _pending: dict[str, float]
    _locks: dict[str, int]

    def _init_recovery(self, ttl_map: Callable[..., TtlMap[Any, Any]]) -> None:
        """Make the joined flags' maps with `ttl_map` (the state keeps them all, to purge
        them; an evicted joined flag is told to `_evicted_joined`)."""
        self._since = time.time()  # this process's memory: continuous since it started
        self._joined_floor = 0.0  # newest thread whose joined flag was evicted
        self._joined: TtlMap[str, bool] = ttl_map(self._evicted_joined)
        self._unjoined: TtlMap[str, bool] = ttl_map()
        self._epoch_claimed = False
        self._replaying_until = 0.0
        self._settling_until = 0.0

    def _evicted_joined(self, session_id: str, _: bool) -> None:
        """A joined flag was dropped for room: "not joined" is no longer known for threads
        up to that one (is_joined says None: the session store is asked)."""
        root = reply_thread_of(session_id)
        if root is not None:
            self._joined_floor = max(self._joined_floor, float(root))

    def claim_epoch(self, session_id: str | None = None) -> bool:
        with self._cond:
            if self._epoch_claimed:
                return False
            self._epoch_claimed = True
            self._replaying_until = time.time() + REPLAY_PAUSE_SECONDS
            return True

    def replaying(self, session_id: str | None = None) -> bool:
        return time.time() < max(self._replaying_until, self._settling_until)

    def replay_done(self, settle_seconds: float = 0.0) -> None:
        self._replaying_until = 0.0
        self.hold_turns(settle_seconds)

    def hold_turns(self, seconds: float, shard: int | None = None) -> None:
        """See State.hold_turns (one process: nothing else holds messages; kept for the
        contract; every thread waits, whatever `shard`)."""
        with self._cond:
            self._settling_until = max(self._settling_until, time.time() + seconds)

    def orphans(self, limit: int = 100) -> list[str]:
        with self._cond:
            return [sid for sid in list(self._pending)[:limit] if sid not in self._locks]

    def is_joined(self, session_id: str) -> bool | None:
        with self._cond:
            if (joined := self._joined.get(session_id)) or self._unjoined.get(session_id):
                return bool(joined)
            since = max(self._since, self._joined_floor)
        return False if knows_unjoined(session_id, since, time.time()) else None

    def note_joined(self, session_id: str, joined: bool) -> None:
        with self._cond:
            self._wrote()
            if joined:
                self._joined.set(session_id, True, JOINED_TTL_SECONDS)
            else:
                self._unjoined.set(session_id, True, NOT_JOINED_TTL_SECONDS)
