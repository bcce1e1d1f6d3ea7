"""A bounded dict whose entries expire, for the in-process state (bot/store/memory_state.py).

Redis expires keys itself; a dict does not. Here an expired entry is dropped when read, and
every expired entry every `purge_every` writes (amortized: a purge walks the whole map once
per that many writes). At most `max_entries` are kept: past that, the least recently
written entry goes first, and `on_evict` is told (a caller whose answers depend on having
every entry, such as the joined flags, must then stop trusting an absence).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
MAX_ENTRIES = 100_000
PURGE_EVERY = 1_000


class TtlMap(Generic[K, V]):
    """Not thread-safe: the owner holds its own lock around every call."""

    def __init__(
        self,
        max_entries: int = MAX_ENTRIES,
        purge_every: int = PURGE_EVERY,
        on_evict: Callable[[K, V], object] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_entries = max_entries
        self.purge_every = purge_every
        self.on_evict = on_evict
        self.clock = clock
        self._items: OrderedDict[K, tuple[V, float]] = OrderedDict()
        self._writes = 0

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[K]:
        return iter(list(self._items))

    def get(self, key: K) -> V | None:
        """The live value of `key`, or None (absent or expired: then dropped)."""
        found = self._items.get(key)
        if found is None:
            return None
        if found[1] <= self.clock():
            del self._items[key]
            return None
        return found[0]

    def set(self, key: K, value: V, ttl: float) -> None:
        """Write `key` for `ttl` seconds (a rewrite refreshes it)."""
        self._items[key] = (value, self.clock() + ttl)
        self._items.move_to_end(key)
        self._writes += 1
        if self._writes >= self.purge_every:
            self.purge()
        while len(self._items) > self.max_entries:
            old, (value, _) = self._items.popitem(last=False)
            if self.on_evict is not None:
                self.on_evict(old, value)

    def update(self, key: K, value: V, ttl: float) -> None:
        """Replace the value of a live `key`, keeping its expiry (else `set` it)."""
        found = self._items.get(key)
        if found is None or found[1] <= self.clock():
            self.set(key, value, ttl)
        else:
            self._items[key] = (value, found[1])

    def pop(self, key: K) -> V | None:
        found = self._items.pop(key, None)
        return None if found is None or found[1] <= self.clock() else found[0]

    def purge(self) -> int:
        """Drop every expired entry; how many."""
        now = self.clock()
        expired = [key for key, (_, until) in self._items.items() if until <= now]
        for key in expired:
            del self._items[key]
        self._writes = 0
        return len(expired)

    def drop(self, matches: Callable[[K], bool]) -> int:
        """Drop every entry whose key `matches`; how many."""
        doomed = [key for key in self._items if matches(key)]
        for key in doomed:
            del self._items[key]
        return len(doomed)
