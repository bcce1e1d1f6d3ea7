"""Redis key layout: every key of a thread lives in its shard's hash slot.

Redis Cluster runs a multi-key script only when all its keys hash to one slot, so the keys
one script touches share a hash tag. The tag is a *shard* `{s<k>}`, k = crc32(team and
channel) % SHARDS, rather than the thread itself:

- accept writes a thread's inbox and joined flag, its shard's pending set and the message's
  dedup keys in one script. Dedup keys name a message by channel + ts (and event id), not by
  thread, so they must be placeable without knowing the thread: team + channel gives the
  same shard whichever thread a delivery was routed to.
- work discovery and the "did Redis lose its data?" epoch are per shard: a worker scans
  SHARDS pending sets (pipelined, one round trip per node) instead of one global set, and a
  cluster primary that restarts empty loses the epochs of its shards only, which is exactly
  what must be replayed.

The same layout serves a single Redis, so both modes run one code path. SHARDS is part of
the layout: changing it moves every thread's keys (as a deploy of a new layout does; see
docs/operations.md "Redis Cluster").
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

PREFIX = "tsb:"
SHARDS = 64
# Wake-ups: one list, pushed after accept (a single-key command, fine in a cluster) and
# popped by one worker each; a lost push (that node restarted) is caught by the sweep.
WAKE = PREFIX + "wakeup"


def shard_of(session_id: str) -> int:
    """The shard of a thread: from the team + channel part of its session id."""
    scope = session_id.rpartition("_")[0] or session_id
    return zlib.crc32(scope.encode()) % SHARDS


@dataclass(frozen=True)
class Shard:
    number: int

    @property
    def base(self) -> str:
        return f"{PREFIX}{{s{self.number}}}"

    @property
    def pending(self) -> str:
        """zset: threads with queued work, scored by when they became pending."""
        return f"{self.base}:pending"

    @property
    def epoch(self) -> str:
        """Set once; its absence means this shard's data was lost (or is new)."""
        return f"{self.base}:epoch"

    @property
    def since(self) -> str:
        """When this shard's data began (unix time): set with the epoch and lost with it,
        so while it exists Redis holds every fact written to the shard since then (a
        thread's "joined" flag in particular: State.is_joined)."""
        return f"{self.base}:since"

    @property
    def replaying(self) -> str:
        """Turns of this shard wait while the durable inbox is queued again..."""
        return f"{self.base}:replaying"

    @property
    def settling(self) -> str:
        """... and while the processes that held messages in a Redis outage queue them
        (State.hold_turns; kept apart from `replaying`, which a replay's end deletes)."""
        return f"{self.base}:settling"

    @property
    def replayed(self) -> str:
        """... until this says it was."""
        return f"{self.base}:replayed"

    def thread(self, kind: str, session_id: str) -> str:
        return f"{self.base}:{kind}:{session_id}"

    def dedup(self, key: str) -> str:
        return f"{self.base}:dedup:{key}"


SHARD_LIST = tuple(Shard(k) for k in range(SHARDS))


def shard(session_id: str) -> Shard:
    return SHARD_LIST[shard_of(session_id)]
