"""A process-wide cache of stored session messages, keyed by S3 key and ETag.

Restoring a session costs a LIST plus one GET per message in the window. Message objects
are written once (a rewrite gets a new ETag), so a cached copy whose ETag still matches
the LIST is the object itself: only messages written by other processes are fetched.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from typing import Any

MAX_ENTRIES = 5_000


class MessageCache:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.max_entries = max_entries
        self.hits = self.misses = 0

    def get(self, key: str, etag: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._entries.get((key, etag))
            if found is None:
                self.misses += 1
                return None
            self._entries.move_to_end((key, etag))
            self.hits += 1
            return copy.deepcopy(found)

    def put(self, key: str, etag: str, data: dict[str, Any]) -> None:
        with self._lock:
            self._entries[(key, etag)] = copy.deepcopy(data)
            self._entries.move_to_end((key, etag))
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
