"""State's `Facts` role in process memory (bot/store/memory_state.py mixes it in).

Each kind of fact lives in its own TtlMap (bot/store/ttl_map.py), so it expires as the
Redis key would, and is bounded. Feedback counts are a plain dict: a few fields per persona.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from bot.store.state import JOINED_TTL_SECONDS
from bot.store.ttl_map import TtlMap


class MemoryFacts:
    """Every call holds the state's one lock (`_cond`); every write counts towards the
    state's periodic purge (`_wrote`)."""

    _cond: threading.Condition
    _wrote: Callable[[], None]

    def _init_facts(self, ttl_map: Callable[[], TtlMap[Any, Any]]) -> None:
        """Make the facts' maps with `ttl_map` (the state keeps them all, to purge them)."""
        self._personas: TtlMap[str, str] = ttl_map()
        self._spent: TtlMap[str, int] = ttl_map()  # spend(): uses in the current window
        self._recent: TtlMap[tuple[str, str, str], str] = ttl_map()
        self._facts: TtlMap[str, str] = ttl_map()
        self._sets: TtlMap[str, set[str]] = ttl_map()
        self._notes: TtlMap[str, list[str]] = ttl_map()
        # upsert_recent(): per key, member -> (rank, fields)
        self._ranked: TtlMap[str, dict[str, tuple[float, dict[str, str]]]] = ttl_map()
        self._counts: dict[str, dict[str, int]] = {}  # feedback: a few fields per persona

    def sticky_persona(self, session_id: str) -> str | None:
        with self._cond:
            return self._personas.get(session_id)

    def set_sticky_persona(self, session_id: str, persona: str | None) -> None:
        with self._cond:
            self._wrote()
            if persona is None:
                self._personas.pop(session_id)
            else:
                self._personas.set(session_id, persona, JOINED_TTL_SECONDS)

    def recent_thread(self, team: str, channel: str, user: str) -> str | None:
        with self._cond:
            return self._recent.get((team, channel, user))

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
        """See State.upsert_recent."""
        with self._cond:
            self._wrote()
            members = dict(self._ranked.get(key) or {})
            entry = {**keep, **(members.get(member, (at, {}))[1]), **fields}
            members[member] = (at, entry)
            newest = sorted(members.items(), key=lambda item: item[1][0], reverse=True)
            self._ranked.set(key, dict(newest[:limit]), ttl)  # as Redis: renews the TTL

    def recents(self, key: str) -> list[tuple[str, dict[str, str]]]:
        with self._cond:
            members = (self._ranked.get(key) or {}).items()
            newest = sorted(members, key=lambda item: item[1][0], reverse=True)
            return [(member, dict(fields)) for member, (_, fields) in newest]

    def set_fact(self, key: str, value: str | None, ttl: float = JOINED_TTL_SECONDS) -> None:
        with self._cond:
            self._wrote()
            if value is None:
                self._facts.pop(key)
            else:
                self._facts.set(key, value, ttl)

    def fact(self, key: str) -> str | None:
        with self._cond:
            return self._facts.get(key)

    def add_once(self, key: str, member: str, ttl: float = JOINED_TTL_SECONDS) -> bool:
        with self._cond:
            self._wrote()
            members = self._sets.get(key) or set()
            self._sets.set(key, members, ttl)  # as Redis: every add renews the set's TTL
            if member in members:
                return False
            members.add(member)
            return True

    def spend(self, key: str, limit: int, window: float) -> bool:
        """See State.spend: a fixed window per key, started by its first use."""
        with self._cond:
            self._wrote()
            used = (self._spent.get(key) or 0) + 1
            self._spent.update(key, used, window)
            return used <= limit

    def count(self, key: str, field: str, by: int = 1) -> int:
        with self._cond:
            fields = self._counts.setdefault(key, {})
            fields[field] = fields.get(field, 0) + by
            return fields[field]

    def counts(self, key: str) -> dict[str, int]:
        with self._cond:
            return dict(self._counts.get(key, {}))

    def append_note(
        self, key: str, note: str, max_notes: int = 50, ttl: float = JOINED_TTL_SECONDS
    ) -> None:
        with self._cond:
            self._wrote()
            self._notes.set(key, [*(self._notes.get(key) or []), note][-max_notes:], ttl)

    def notes(self, key: str) -> list[str]:
        with self._cond:
            return list(self._notes.get(key) or [])

    def drop_notes(self, key: str, count: int) -> None:
        with self._cond:
            left = (self._notes.get(key) or [])[count:]
            if left:
                self._notes.update(key, left, JOINED_TTL_SECONDS)
            else:
                self._notes.pop(key)  # as Redis deletes an emptied list
