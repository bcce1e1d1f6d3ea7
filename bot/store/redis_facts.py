"""State's `Facts` role in Redis (bot/store/redis_state.py mixes it in): small shared facts
(stop requests, stream ts, votes, notes, budgets, counts, a user's latest thread), one key
per command, so any hash slot is fine, in a cluster too; and a thread's sticky persona
(in its shard's slot)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from bot.store.redis_keys import PREFIX, shard
from bot.store.state import JOINED_TTL_SECONDS

# KEYS: the counter  ARGV: window ms. Counts one use; the first use starts the window.
SPEND = """
local used = redis.call('incr', KEYS[1])
if used == 1 or redis.call('pttl', KEYS[1]) < 0 then redis.call('pexpire', KEYS[1], ARGV[1]) end
return used
"""

# KEYS: the order zset, the entries hash (one hash slot: the key's hash tag)
# ARGV: member, score, limit, ttl s, fields JSON, keep JSON. Upserts one member's entry (a
# JSON object merged here, atomically), then drops the members past `limit`, oldest first.
UPSERT_RECENT = """
local old = redis.call('hget', KEYS[2], ARGV[1])
local entry = old and cjson.decode(old) or {}
for k, v in pairs(cjson.decode(ARGV[5])) do entry[k] = v end
for k, v in pairs(cjson.decode(ARGV[6])) do if entry[k] == nil then entry[k] = v end end
redis.call('hset', KEYS[2], ARGV[1], cjson.encode(entry))
redis.call('zadd', KEYS[1], ARGV[2], ARGV[1])
for _, gone in ipairs(redis.call('zrevrange', KEYS[1], tonumber(ARGV[3]), -1)) do
  redis.call('zrem', KEYS[1], gone)
  redis.call('hdel', KEYS[2], gone)
end
redis.call('expire', KEYS[1], ARGV[4])
redis.call('expire', KEYS[2], ARGV[4])
"""


def recent_keys(key: str) -> tuple[str, str]:
    """The order zset and the entries hash of collection `key`: the key is their hash tag,
    so in a cluster both live in one slot (one user's collection, one slot)."""
    base = f"{PREFIX}recent:{{{key}}}"
    return f"{base}:order", f"{base}:entries"


class RedisFacts:
    client: Any  # redis.Redis or RedisCluster (RedisState.client)

    def recent_thread(self, team: str, channel: str, user: str) -> str | None:
        value = self.client.get(f"{PREFIX}recent:{team}:{channel}:{user}")
        return value.decode() if value else None

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
        """State.upsert_recent: one script over the collection's two keys (one slot)."""
        args = [member, repr(at), limit, max(1, int(ttl)), json.dumps(fields), json.dumps(keep)]
        self.client.eval(UPSERT_RECENT, 2, *recent_keys(key), *args)

    def recents(self, key: str) -> list[tuple[str, dict[str, str]]]:
        order, entries = recent_keys(key)
        members = [m.decode() for m in self.client.zrevrange(order, 0, -1)]
        values = self.client.hmget(entries, members) if members else []
        return [(m, json.loads(v)) for m, v in zip(members, values, strict=True) if v]

    def sticky_persona(self, session_id: str) -> str | None:
        value = self.client.get(shard(session_id).thread("persona", session_id))
        return value.decode() if value else None

    def set_sticky_persona(self, session_id: str, persona: str | None) -> None:
        key = shard(session_id).thread("persona", session_id)
        if persona is None:
            self.client.delete(key)
        else:
            self.client.set(key, persona, ex=JOINED_TTL_SECONDS)

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
