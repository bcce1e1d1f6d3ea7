"""Small shared facts in Redis (stop requests, stream ts, votes, notes, a user's latest
thread): one key per command, so any hash slot is fine, in a cluster too. Plus a thread's
own facts (joined, sticky persona: in its shard's slot), and forgetting a whole team."""

from __future__ import annotations

import re
import time
from typing import Any

from redis.cluster import RedisCluster

from bot.store.redis_keys import PREFIX, SHARD_LIST, WAKE, shard
from bot.store.state import (
    JOINED_TTL_SECONDS,
    KEPT_ON_UNINSTALL,
    NOT_JOINED_TTL_SECONDS,
    knows_unjoined,
    team_pattern,
)

_LOCK = re.compile(re.escape(PREFIX) + r"\{s\d+\}:lock:")
_KEPT = tuple(f"{PREFIX}fact:{name}" for name in KEPT_ON_UNINSTALL)
_BATCH = 1000


def _glob_escape(text: str) -> str:
    """`text` matched literally in a Redis glob (SCAN MATCH)."""
    return re.sub(r"([][*?^\\])", r"\\\1", text)


# KEYS: the counter  ARGV: window ms. Counts one use; the first use starts the window.
SPEND = """
local used = redis.call('incr', KEYS[1])
if used == 1 or redis.call('pttl', KEYS[1]) < 0 then redis.call('pexpire', KEYS[1], ARGV[1]) end
return used
"""


class RedisFacts:
    client: Any  # redis.Redis or RedisCluster (RedisState.client)

    def recent_thread(self, team: str, channel: str, user: str) -> str | None:
        value = self.client.get(f"{PREFIX}recent:{team}:{channel}:{user}")
        return value.decode() if value else None

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

    def sticky_persona(self, session_id: str) -> str | None:
        value = self.client.get(shard(session_id).thread("persona", session_id))
        return value.decode() if value else None

    def set_sticky_persona(self, session_id: str, persona: str | None) -> None:
        key = shard(session_id).thread("persona", session_id)
        if persona is None:
            self.client.delete(key)
        else:
            self.client.set(key, persona, ex=JOINED_TTL_SECONDS)

    def forget_team(self, team: str) -> int:
        """State.forget_team: SCAN every primary for the keys naming the team, delete them
        (one key per command: any slot), and drop its threads from the shards' pending
        sets and the wake-up list."""
        pattern = team_pattern(team)
        pipe = self.client.pipeline(transaction=False)
        for one in SHARD_LIST:
            pipe.zrange(one.pending, 0, -1)
        pending = pipe.execute()
        pipe = self.client.pipeline(transaction=False)
        for one, sids in zip(SHARD_LIST, pending, strict=True):
            for sid in (raw.decode() for raw in sids if pattern.search(raw.decode())):
                pipe.zrem(one.pending, sid)
                pipe.lrem(WAKE, 0, sid)
        names = self._team_keys(team)
        for name in names:
            pipe.delete(name)
            if len(pipe) >= _BATCH:
                pipe.execute()
        pipe.execute()
        return len(names)

    def _team_keys(self, team: str) -> list[str]:
        glob = f"{PREFIX}*:{_glob_escape(team)}[_:]*"
        where = (
            {"target_nodes": RedisCluster.PRIMARIES}
            if isinstance(self.client, RedisCluster)
            else {}
        )
        pattern = team_pattern(team)
        found = {raw.decode() for raw in self.client.scan_iter(match=glob, count=_BATCH, **where)}
        return sorted(
            name
            for name in found
            if pattern.search(name) and not _LOCK.match(name) and not name.startswith(_KEPT)
        )

    # Small facts: one key per command, so any slot is fine.
    def set_fact(self, key: str, value: str | None, ttl: float = JOINED_TTL_SECONDS) -> None:
        if value is None:
            self.client.delete(f"{PREFIX}fact:{key}")
        else:
            self.client.set(f"{PREFIX}fact:{key}", value, ex=max(1, int(ttl)))

    def fact(self, key: str) -> str | None:
        value = self.client.get(f"{PREFIX}fact:{key}")
        return value.decode() if value is not None else None

    def add_once(self, key: str, member: str, ttl: float = JOINED_TTL_SECONDS) -> bool:
        name = f"{PREFIX}set:{key}"
        pipe = self.client.pipeline()
        pipe.sadd(name, member)
        pipe.expire(name, max(1, int(ttl)))
        return pipe.execute()[0] == 1

    def spend(self, key: str, limit: int, window: float) -> bool:
        """Count one use of `key` in its current fixed window of `window` seconds (started
        by the window's first use); True while the count is within `limit`. One key, one
        round trip (EVAL), so any cluster slot. Raises RedisError when Redis is down."""
        used = self.client.eval(SPEND, 1, f"{PREFIX}spend:{key}", max(1, int(window * 1000)))
        return int(used) <= limit

    def count(self, key: str, field: str, by: int = 1) -> int:
        return int(self.client.hincrby(f"{PREFIX}count:{key}", field, by))

    def counts(self, key: str) -> dict[str, int]:
        raw = self.client.hgetall(f"{PREFIX}count:{key}")
        return {k.decode(): int(v) for k, v in raw.items()}

    def append_note(
        self, key: str, note: str, max_notes: int = 50, ttl: float = JOINED_TTL_SECONDS
    ) -> None:
        name = f"{PREFIX}notes:{key}"
        pipe = self.client.pipeline()
        pipe.rpush(name, note)
        pipe.ltrim(name, -max_notes, -1)
        pipe.expire(name, max(1, int(ttl)))
        pipe.execute()

    def notes(self, key: str) -> list[str]:
        return [n.decode() for n in self.client.lrange(f"{PREFIX}notes:{key}", 0, -1)]

    def drop_notes(self, key: str, count: int) -> None:
        if count > 0:
            self.client.ltrim(f"{PREFIX}notes:{key}", count, -1)
