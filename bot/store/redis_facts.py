"""State's `Facts` role in Redis (bot/store/redis_state.py mixes it in): small shared facts
(stop requests, stream ts, votes, notes, budgets, counts, a user's latest thread), one key
per command, so any hash slot is fine, in a cluster too; and a thread's sticky persona
(in its shard's slot)."""

from __future__ import annotations

from typing import Any

from bot.store.redis_keys import PREFIX, shard
from bot.store.state import JOINED_TTL_SECONDS

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
