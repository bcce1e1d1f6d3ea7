"""State's `Recovery` role in Redis (bot/store/redis_state.py mixes it in).

Each shard (bot/store/redis_keys.py) keeps its own epoch and `since` (when its data began),
so a Cluster primary that restarts empty is noticed for its shards only: the next
`claim_epoch` finds their epochs missing and replays the durable inbox, while the intact
shards still hold their dedup keys (only the lost messages are queued again). A thread's
joined flag lives in its shard, next to that shard's `since`: one round trip says whether
"not joined" can be trusted.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from bot.store import redis_scripts as lua
from bot.store.redis_keys import SHARD_LIST, Shard, shard
from bot.store.state import (
    JOINED_TTL_SECONDS,
    NOT_JOINED_TTL_SECONDS,
    REPLAY_PAUSE_SECONDS,
    knows_unjoined,
)


def each_shard(client: Any, command: Callable[..., object], shards: Sequence[Shard]) -> list:
    """Run `command(pipe, shard)` for every shard in one pipeline (per node in a cluster)."""
    pipe = client.pipeline(transaction=False)
    for one in shards:
        command(pipe, one)
    return pipe.execute()


class RedisRecovery:
    """The replay claims (`_claimed`, under `_guard`) are shared with the state's quick()
    twin, so one process owes one replay; `_sweep_at` is where `orphans` goes on in each
    shard's pending set."""

    client: Any  # redis.Redis or RedisCluster (RedisState.client)
    _guard: threading.Lock
    _claimed: set[int]  # shards whose replay this process owes
    _sweep_at: list[int]

    def claim_epoch(self, session_id: str | None = None) -> bool:
        """With `session_id`, its shard first (cheap, before each accept); once a shard is
        found lost, every other lost one is claimed too, so one replay covers them all."""
        if session_id is not None and not self._claim([shard(session_id)]):
            return False
        return self._claim(SHARD_LIST) or session_id is not None

    def _claim(self, shards: Sequence[Shard]) -> bool:
        epoch = uuid.uuid4().hex
        # EVAL, not EVALSHA (a restarted primary has no script cache, and cluster pipelines
        # refuse EVALSHA); execute_command: ClusterPipeline.eval() is not EVAL
        now = repr(time.time())
        results = each_shard(
            self.client,
            lambda pipe, one: pipe.execute_command(
                "EVAL",
                lua.CLAIM_EPOCH,
                4,
                one.epoch,
                one.replaying,
                one.replayed,
                one.since,
                epoch,
                REPLAY_PAUSE_SECONDS,
                now,
            ),
            shards,
        )
        claimed = {one.number for one, got in zip(shards, results, strict=True) if got == 1}
        with self._guard:
            self._claimed |= claimed
        return bool(claimed)

    def replaying(self, session_id: str | None = None) -> bool:
        shards = [shard(session_id)] if session_id else SHARD_LIST
        return any(
            each_shard(
                self.client, lambda pipe, one: pipe.exists(one.replaying, one.settling), shards
            )
        )

    def replay_done(self, settle_seconds: float = 0.0) -> None:
        with self._guard:  # emptied in place: a quick() twin shares this set
            done = set(self._claimed)
            self._claimed.clear()
        pipe = self.client.pipeline(transaction=False)
        for number in sorted(done):
            pipe.set(SHARD_LIST[number].replayed, "1")
            if settle_seconds > 0:
                pipe.set(SHARD_LIST[number].settling, "1", px=int(settle_seconds * 1000))
            pipe.delete(SHARD_LIST[number].replaying)
        pipe.execute()

    def hold_turns(self, seconds: float, shard: int | None = None) -> None:
        """The shard's (None: each shard's) `settling` key: turns wait while it exists."""
        shards = SHARD_LIST if shard is None else [SHARD_LIST[shard]]
        ms = int(seconds * 1000)
        each_shard(self.client, lambda pipe, one: pipe.set(one.settling, "1", px=ms), shards)

    def orphans(self, limit: int = 100) -> list[str]:
        """Threads with queued work and no lock holder, at most `limit`, rotating through
        each shard's pending set so long-running threads at its head cannot hide the rest."""
        ranges = each_shard(
            self.client,
            lambda pipe, one: pipe.zrange(
                one.pending, self._sweep_at[one.number], self._sweep_at[one.number] + limit - 1
            ),
            SHARD_LIST,
        )
        sids = []
        for one, got in zip(SHARD_LIST, ranges, strict=True):
            at = self._sweep_at[one.number]
            self._sweep_at[one.number] = at + limit if len(got) == limit else 0
            sids += [s.decode() for s in got]
        if not sids:
            return []
        pipe = self.client.pipeline(transaction=False)
        for sid in sids:
            pipe.exists(shard(sid).thread("lock", sid))
        held = pipe.execute()
        return [sid for sid, busy in zip(sids, held, strict=True) if not busy][:limit]

    def is_joined(self, session_id: str) -> bool | None:
        """One round trip: the thread's joined flag, the kept answer of the session store,
        and since when its shard's data is continuous (State.is_joined)."""
        at = shard(session_id)
        pipe = self.client.pipeline(transaction=False)
        pipe.exists(at.thread("joined", session_id))
        pipe.exists(at.thread("unjoined", session_id))
        pipe.get(at.since)
        joined, unjoined, since = pipe.execute()
        if joined or unjoined:
            return bool(joined)
        began = float(since) if since is not None else None
        return False if knows_unjoined(session_id, began, time.time()) else None

    def note_joined(self, session_id: str, joined: bool) -> None:
        at = shard(session_id)
        if joined:
            self.client.set(at.thread("joined", session_id), "1", ex=JOINED_TTL_SECONDS)
        else:
            self.client.set(at.thread("unjoined", session_id), "1", ex=NOT_JOINED_TTL_SECONDS)
